package results

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium runs headless Chromium with a fresh profile and nothing that phones home, and
// returns its stdout. The test is skipped, saying why, when chromium is not installed (.ci/run
// installs it).
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install -y chromium; .ci/run installs it): report.html not rendered")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute) // a busy machine starts it slowly
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
		"--user-data-dir=" + t.TempDir()}
	cmd := exec.CommandContext(ctx, bin, append(base, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return out
}

// The report of a failing run on a starved machine renders in a real browser: the page's own
// script finds every chart drawn (the event strip, three request charts, two lab-health
// charts), and a screenshot shows the shaded fault windows and the hatched saturated windows —
// the same run with no saturated window has far fewer hatch pixels. Set
// PAYLAB_REPORT_SCREENSHOT to a path to keep the screenshot (docs/report-failing-run.png is
// made this way).
func TestReportRendersInHeadlessChromium(t *testing.T) {
	run := syntheticBusyRun(t)
	shot, img := screenshot(t, run)
	url := "file://" + filepath.Join(filepath.Dir(shot), ReportFile)
	dom := string(chromium(t, "--virtual-time-budget=5000", "--dump-dom", url))
	if !strings.Contains(dom, `data-charts-drawn="6"`) || !strings.Contains(dom, `data-charts-total="6"`) {
		i := strings.Index(dom, "<body")
		t.Fatalf("the page's check did not see 6 of 6 charts drawn; body tag: %.200s", dom[max(i, 0):])
	}

	ink, shade, hatch := pixels(img)
	b := img.Bounds()
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if ink < total/50 {
		t.Errorf("screenshot is nearly blank: %d of %d sampled pixels inked", ink, total)
	}
	if shade < total/200 {
		t.Errorf("no shaded fault window in the screenshot: %d of %d sampled pixels", shade, total)
	}
	calm := syntheticBusyRun(t)
	for i := range calm.Windows {
		calm.Windows[i].Health.Saturated, calm.Windows[i].Health.Reasons = 0, nil
	}
	calm.LabHealth.Load = HealthOver(calm.Windows, 0, 0)
	_, calmImg := screenshot(t, calm)
	_, _, calmHatch := pixels(calmImg)
	t.Logf("hatch pixels %d saturated, %d calm, of %d", hatch, calmHatch, total)
	if hatch < calmHatch+total/400 {
		t.Errorf("saturated windows not visible: %d hatch pixels with them, %d without, of %d sampled", hatch, calmHatch, total)
	}
	if keep := os.Getenv("PAYLAB_REPORT_SCREENSHOT"); keep != "" {
		data, err := os.ReadFile(shot)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keep, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// screenshot writes run's report.html into a new directory and returns the path of its
// 1280×2400 screenshot and the decoded image.
func screenshot(t *testing.T, run *Run) (string, image.Image) {
	t.Helper()
	dir := t.TempDir()
	page := filepath.Join(dir, ReportFile)
	if err := writeFile(page, func(w io.Writer) error { return WriteReport(w, run) }); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report.png")
	chromium(t, "--window-size=1280,2400", "--screenshot="+shot, "file://"+page)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return shot, img
}

// pixels counts, over every other pixel of each other row: inked pixels, pixels of a fault
// window (translucent red over white ≈ (250, 212, 212)), and mid-grey pixels as the hatch of
// saturated windows leaves them.
func pixels(img image.Image) (ink, shade, hatch int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 200 || g < 200 || bl < 200 {
				ink++
			}
			if r > 240 && g > 195 && g < 225 && bl > 195 && bl < 225 {
				shade++
			}
			if r >= 120 && r <= 215 && max(r, g, bl)-min(r, g, bl) < 10 {
				hatch++
			}
		}
	}
	return ink, shade, hatch
}
