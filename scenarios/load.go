package scenarios

import (
	"bytes"
	"embed"
	"encoding"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"paylab/suggest"
)

//go:embed library/*.yaml
var library embed.FS

// MaxFileBytes bounds a scenario file.
const MaxFileBytes = 1 << 20

// Error is every problem found in one scenario file, one a line, each as "file:line:col: path: message".
// errors.As finds each Problem in it.
type Error struct {
	File     string
	Problems []Problem
}

// Problem is one problem of a scenario file at its place: "file:line:col: path: message" (no path when
// the problem is not one field's). It is the one positioned error of loading and validating a scenario:
// the YAML reader, the format's checks, the catalogues' and the lab's extra checks all end as Problems.
type Problem struct {
	File      string
	Line, Col int
	Path      string // the YAML path ("timeline[2].target"), "" for the file as a whole
	Msg       string
}

// Error formats the problem as "file:line:col: path: message".
func (p Problem) Error() string {
	msg := p.Msg
	if p.Path != "" {
		msg = p.Path + ": " + msg
	}
	return position(p.File, p.Line, p.Col) + ": " + msg
}

// position is how a place in a file is written: "file:line:col".
func position(file string, line, col int) string { return fmt.Sprintf("%s:%d:%d", file, line, col) }

// Error lists the problems, one a line.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns each problem, so errors.As finds a Problem.
func (e *Error) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Positions maps YAML paths ("timeline[2].target") to where they are in the file, so checks made later
// (fault parameters, assertion parameters) can report file:line:col too.
type Positions struct {
	file string
	at   map[string][2]int // where each value starts
	keys map[string][2]int // where the key naming each mapping value is
}

// problem is a Problem at lc (line, column) of the file.
func (p Positions) problem(lc [2]int, path, msg string) Problem {
	return Problem{File: p.file, Line: lc[0], Col: lc[1], Path: path, Msg: msg}
}

// KeyOf returns "file:line:col" of the key that names path ("timeline[0].latncy"), or of its value when
// path is not a mapping key.
func (p Positions) KeyOf(path string) string {
	lc := p.keyLineCol(path)
	return position(p.file, lc[0], lc[1])
}

func (p Positions) keyLineCol(path string) [2]int {
	if lc, ok := p.keys[path]; ok {
		return lc
	}
	return p.lineCol(path)
}

// Has reports whether the file wrote path (a key with a value, even an empty one).
func (p Positions) Has(path string) bool {
	_, ok := p.at[path]
	return ok
}

// Of returns "file:line:col" for path, or the nearest enclosing path that has a position.
func (p Positions) Of(path string) string {
	lc := p.lineCol(path)
	return position(p.file, lc[0], lc[1])
}

// Errorf returns a Problem at path (or the nearest enclosing path that has a position).
func (p Positions) Errorf(path, format string, args ...any) error {
	return p.problem(p.lineCol(path), path, fmt.Sprintf(format, args...))
}

// Load reads a scenario file strictly: unknown fields, wrong types and invalid values are all reported, each
// with its line and column. The returned scenario has its defaults filled in.
func Load(path string) (*Scenario, Positions, error) {
	data, err := readBounded(os.DirFS(filepath.Dir(path)), filepath.Base(path))
	if err != nil {
		return nil, Positions{}, fmt.Errorf("read scenario %s: %w", path, err)
	}
	return Parse(path, data)
}

// PathError is an error a custom YAML reader (expect, mix, an assertion) returns to point at one key
// inside its node: Key is the path below the node ("failing[1]"), AtKey whether to point at the key
// rather than its value.
type PathError struct {
	Key   string
	AtKey bool
	Msg   string
}

func (e *PathError) Error() string { return e.Key + ": " + e.Msg }

// ErrNoScenario is returned for a name the shipped library does not hold.
var ErrNoScenario = errors.New("no scenario")

// LoadNamed loads a scenario by path, or by name from the shipped library ("zone-failover").
func LoadNamed(nameOrPath string) (*Scenario, Positions, error) {
	return LoadNamedChecked(nameOrPath)
}

// readNamed reads a scenario file by path, or by name from the library; file is how errors name it.
func readNamed(nameOrPath string) (file string, data []byte, err error) {
	if strings.ContainsAny(nameOrPath, "/.") {
		data, err := readBounded(os.DirFS(filepath.Dir(nameOrPath)), filepath.Base(nameOrPath))
		if err != nil {
			return "", nil, fmt.Errorf("read scenario %s: %w", nameOrPath, err)
		}
		return nameOrPath, data, nil
	}
	data, err = readBounded(library, "library/"+nameOrPath+".yaml")
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil, fmt.Errorf("%w %q in the library%s (paylab list shows them)", ErrNoScenario, nameOrPath, suggest.DidYouMean(nameOrPath, Library()))
	}
	if err != nil {
		return "", nil, fmt.Errorf("read scenario %q from the library: %w", nameOrPath, err)
	}
	return "scenarios/library/" + nameOrPath + ".yaml", data, nil
}

// Library lists the shipped scenarios' names, sorted.
func Library() []string {
	entries, _ := fs.ReadDir(library, "library")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func readBounded(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var buf bytes.Buffer
	n, err := buf.ReadFrom(&limitedReader{f, MaxFileBytes + 1})
	if err != nil {
		return nil, err
	}
	if n > MaxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", MaxFileBytes)
	}
	return buf.Bytes(), nil
}

type limitedReader struct {
	r interface{ Read([]byte) (int, error) }
	n int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errors.New("limit reached")
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	return n, err
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Parse is Load on bytes already read; file names the source in errors. Every problem of the file is
// reported in one pass, each at its own line and column: a value that cannot be read is left out (its
// default stands in) so the checks after it still run, and problems that only follow from one already
// reported are not repeated.
func Parse(file string, data []byte) (*Scenario, Positions, error) {
	s, pos, problems := parse(file, data)
	if len(problems) > 0 {
		return nil, pos, &Error{File: file, Problems: problems}
	}
	return s, pos, nil
}

// Extra is a check beyond the format that a caller adds to a load (the lab checks the configurations
// it would build from the scenario): it returns problems by YAML path, like Validate.
type Extra func(s *Scenario, pos Positions) []FieldError

// LoadNamedChecked is LoadNamed with extra checks run in the same pass: every problem of the file, from
// the format or from the extras, is in one *Error, sorted by position.
func LoadNamedChecked(nameOrPath string, extras ...Extra) (*Scenario, Positions, error) {
	file, data, err := readNamed(nameOrPath)
	if err != nil {
		return nil, Positions{}, err
	}
	s, pos, problems := parse(file, data, extras...)
	if len(problems) > 0 {
		return nil, pos, &Error{File: file, Problems: problems}
	}
	return s, pos, nil
}

func parse(file string, data []byte, extras ...Extra) (*Scenario, Positions, []Problem) {
	pos := Positions{file: file, at: map[string][2]int{}, keys: map[string][2]int{}}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		// yaml.v3 reports syntax errors as text ("yaml: line N: …") with no typed position, so the line is
		// read from its message; everything paylab reports itself carries its position.
		p := pos.problem([2]int{1, 1}, "", strings.TrimPrefix(err.Error(), "yaml: "))
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			fmt.Sscan(m[1], &p.Line)
			p.Msg = m[2]
		}
		if errors.Is(err, io.EOF) {
			p.Msg = "the file is empty"
		}
		return nil, pos, []Problem{p}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, pos, []Problem{pos.problem([2]int{extra.Line, extra.Column}, "", "a scenario file holds one YAML document")}
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
		doc = doc.Content[0]
	}
	w := walker{pos: pos}
	if !w.check(doc, reflect.TypeOf(Scenario{}), "") {
		return nil, pos, w.problems
	}
	// Decode onto the defaults: fields the file leaves out keep their defaults, a value the file gives —
	// zero included — is the value (lists it gives replace the defaults whole). Values the walker refused
	// were replaced by empty ones, so they keep their defaults too.
	s := Default()
	if err := doc.Decode(&s); err != nil {
		return nil, pos, append(w.problems, pos.problem([2]int{doc.Line, doc.Column}, "", err.Error()))
	}
	for i := range s.Timeline {
		s.Timeline[i].Pos = pos.Of(fmt.Sprintf("timeline[%d]", i))
	}
	for i := range s.Assertions {
		s.Assertions[i].Pos = pos.Of(fmt.Sprintf("assertions[%d]", i))
	}
	s.Source = append([]byte(nil), data...)
	s.Derive()
	problems := w.problems
	fieldErrs := s.Validate()
	fieldErrs = append(fieldErrs, s.checkCatalogues(pos)...)
	for _, x := range extras {
		fieldErrs = append(fieldErrs, x(&s, pos)...)
	}
	for _, fe := range fieldErrs {
		if w.refused(fe.Path) {
			continue // follows from a value already reported
		}
		lc := pos.lineCol(fe.Path)
		if fe.AtKey {
			lc = pos.keyLineCol(fe.Path)
		}
		problems = append(problems, pos.problem(lc, fe.Path, fe.Msg))
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool {
			return problems[i].Line < problems[j].Line || problems[i].Line == problems[j].Line && problems[i].Col < problems[j].Col
		})
		return nil, pos, problems
	}
	return &s, pos, nil
}

func (p Positions) lineCol(path string) [2]int {
	for {
		if lc, ok := p.at[path]; ok {
			return lc
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return [2]int{1, 1}
		}
		path = path[:i]
	}
}

// walker checks a YAML tree against a Go type before decoding, so each unknown field, wrong type and bad
// scalar is reported at its own line and column (yaml.v3's own errors carry lines only, and stop early).
// What it refuses it takes out of the tree (an unknown key with its value) or empties (a bad value), so
// the rest decodes and is checked in the same pass.
type walker struct {
	pos      Positions
	problems []Problem
	bad      []string // paths refused
}

var (
	durationType    = reflect.TypeOf(time.Duration(0))
	unmarshalerType = reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()
	textType        = reflect.TypeOf((*encoding.TextUnmarshaler)(nil)).Elem()
)

func (w *walker) report(n *yaml.Node, path, format string, args ...any) {
	w.problems = append(w.problems, w.pos.problem([2]int{n.Line, n.Column}, path, fmt.Sprintf(format, args...)))
	w.bad = append(w.bad, path)
}

// refused reports whether path, or a path enclosing it, was refused by the walker.
func (w *walker) refused(path string) bool {
	for _, b := range w.bad {
		if path == b || strings.HasPrefix(path, b) && (path[len(b)] == '.' || path[len(b)] == '[') {
			return true
		}
	}
	return false
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

var yamlErrLine = regexp.MustCompile(`^line \d+: (.*)$`)

func cleanYAMLErr(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "yaml: unmarshal errors:\n  ")
	if m := yamlErrLine.FindStringSubmatch(msg); m != nil {
		msg = m[1]
	}
	return msg
}

// empty replaces a refused value by an empty one, which decodes to the default.
func empty(n *yaml.Node) {
	*n = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Line: n.Line, Column: n.Column}
}

// check checks n against t at path and reports whether n can be decoded; the caller empties or removes a
// node that cannot.
func (w *walker) check(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	w.pos.at[path] = [2]int{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return true // an empty value keeps the default
	}
	pt := reflect.PointerTo(t)
	if t == durationType || pt.Implements(unmarshalerType) || pt.Implements(textType) {
		return w.checkDecoder(n, t, path)
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.check(n, t.Elem(), path)
	case reflect.Struct:
		return w.checkStruct(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.report(n, path, "expected a list, got %s", kindName(n))
			return false
		}
		for i, item := range n.Content {
			if !w.check(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i)) {
				empty(item)
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.report(n, path, "expected a mapping, got %s", kindName(n))
			return false
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			w.pos.keys[p] = [2]int{n.Content[i].Line, n.Content[i].Column}
			if !w.check(n.Content[i+1], t.Elem(), p) {
				empty(n.Content[i+1])
			}
		}
	case reflect.Interface:
		w.recordPositions(n, path)
	default:
		if n.Kind != yaml.ScalarNode {
			w.report(n, path, "expected a %s value, got %s", t.Kind(), kindName(n))
			return false
		}
		if err := n.Decode(reflect.New(t).Interface()); err != nil {
			w.report(n, path, "%s", cleanYAMLErr(err))
			return false
		}
	}
	return true
}

// checkDecoder checks a value whose type decodes itself (a duration, a yaml.Unmarshaler, a
// TextUnmarshaler) by decoding it; a *PathError from its decoder is reported at the key or value it names.
func (w *walker) checkDecoder(n *yaml.Node, t reflect.Type, path string) bool {
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		w.recordPositions(n, path)
	}
	err := n.Decode(reflect.New(t).Interface())
	if err == nil {
		return true
	}
	var pe *PathError
	if !errors.As(err, &pe) {
		w.report(n, path, "%s", cleanYAMLErr(err))
		return false
	}
	at := path
	if pe.Key != "" {
		at = join(path, pe.Key)
	}
	lc := w.pos.lineCol(at)
	if pe.AtKey {
		lc = w.pos.keyLineCol(at)
	}
	w.problems = append(w.problems, w.pos.problem(lc, at, pe.Msg))
	w.bad = append(w.bad, path)
	return false
}

// checkStruct checks a mapping against struct type t: each key once, each a field of t (or of its inline
// map); a value that cannot be decoded is emptied, an unknown or repeated key is dropped.
func (w *walker) checkStruct(n *yaml.Node, t reflect.Type, path string) bool {
	if n.Kind != yaml.MappingNode {
		w.report(n, path, "expected a mapping, got %s", kindName(n))
		return false
	}
	fields, inline := structFields(t)
	seen := map[string]bool{}
	var kept []*yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		w.pos.keys[p] = [2]int{k.Line, k.Column}
		if seen[k.Value] {
			w.report(k, p, "key %q appears twice", k.Value)
			continue
		}
		seen[k.Value] = true
		ft, ok := fields[k.Value]
		switch {
		case ok:
			if !w.check(v, ft.Type, p) {
				empty(v)
			}
		case inline != nil:
			if !w.check(v, inline.Type.Elem(), p) {
				empty(v)
			}
		default:
			names := sortedKeys(fields)
			w.report(k, p, "unknown field %q (known: %s%s)", k.Value, strings.Join(names, ", "), suggest.DidYouMean(k.Value, names))
			continue
		}
		kept = append(kept, k, v)
	}
	n.Content = kept
	return true
}

// recordPositions remembers where every nested key and value of a free-form node is, for later checks.
func (w *walker) recordPositions(n *yaml.Node, path string) {
	w.pos.at[path] = [2]int{n.Line, n.Column}
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			w.pos.keys[p] = [2]int{n.Content[i].Line, n.Content[i].Column}
			w.recordPositions(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			w.recordPositions(c, fmt.Sprintf("%s[%d]", path, i))
		}
	}
}

func structFields(t reflect.Type) (map[string]reflect.StructField, *reflect.StructField) {
	fields := map[string]reflect.StructField{}
	var inline *reflect.StructField
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" || !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if opts == "inline" {
			if f.Type.Kind() == reflect.Map {
				inline = &f
				continue
			}
			sub, subInline := structFields(f.Type)
			for k, v := range sub {
				fields[k] = v
			}
			if subInline != nil {
				inline = subInline
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f
	}
	return fields, inline
}

func sortedKeys(m map[string]reflect.StructField) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
