package results

import (
	"bytes"
	"context"
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
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
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

// The report renders in a real browser: the page's own script finds all three charts drawn,
// and a screenshot shows the shaded fault window. Set PAYLAB_REPORT_SCREENSHOT to a path to
// keep the screenshot (docs/report-screenshot.png is made this way).
func TestReportRendersInHeadlessChromium(t *testing.T) {
	run, _ := syntheticRun(t)
	dir := t.TempDir()
	page := filepath.Join(dir, ReportFile)
	if err := writeFile(page, func(w io.Writer) error { return WriteReport(w, run) }); err != nil {
		t.Fatal(err)
	}
	url := "file://" + page

	dom := string(chromium(t, "--virtual-time-budget=5000", "--dump-dom", url))
	if !strings.Contains(dom, `data-charts-drawn="3"`) {
		i := strings.Index(dom, "<body")
		t.Fatalf("the page's check did not see 3 drawn charts; body tag: %.200s", dom[max(i, 0):])
	}

	shot := filepath.Join(dir, "report.png")
	chromium(t, "--window-size=1100,1500", "--screenshot="+shot, url)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	b := img.Bounds()
	var ink, shade int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			if r < 200 || g < 200 || bl < 200 {
				ink++
			}
			// The fault window: translucent red over white ≈ (250, 212, 212).
			if r > 240 && g > 195 && g < 225 && bl > 195 && bl < 225 {
				shade++
			}
		}
	}
	total := (b.Dx() / 2) * (b.Dy() / 2)
	if ink < total/50 {
		t.Errorf("screenshot is nearly blank: %d of %d sampled pixels inked", ink, total)
	}
	if shade < total/200 {
		t.Errorf("no shaded fault window in the screenshot: %d of %d sampled pixels", shade, total)
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
