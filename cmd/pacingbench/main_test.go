package main

import (
	"bytes"
	"encoding/csv"
	"encoding/xml"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A small file through the whole program: the table names every policy,
// the CSV has a row per run, the plot is well-formed SVG with a point per
// run; a bad file is refused naming the field.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "s.json")
	os.WriteFile(file, []byte(`{"defaults": {"hours": 0.5, "agents": 4},
		"scenarios": [{"name": "a"}, {"name": "b", "answerRate": 0.6}]}`), 0o644)
	csvPath, svgPath := filepath.Join(dir, "r.csv"), filepath.Join(dir, "r.svg")
	var out, errs bytes.Buffer
	if err := run([]string{"-scenarios", file, "-policies", "forecast,webitel-v1", "-csv", csvPath, "-svg", svgPath, "-workers", "2"}, &out, &errs); err != nil {
		t.Fatalf("%v\n%s", err, errs.String())
	}
	for _, want := range []string{"progressive", "forecast", "webitel-v1", "clairvoyant", "2 scenarios, 8 runs"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
	f, _ := os.Open(csvPath)
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil || len(rows) != 1+8 || rows[0][0] != "scenario" {
		t.Errorf("CSV: %d rows, %v", len(rows), err)
	}
	svg, _ := os.ReadFile(svgPath)
	d := xml.NewDecoder(bytes.NewReader(svg))
	points := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && (se.Name.Local == "circle" || se.Name.Local == "path") {
			points++
		}
	}
	if points != 8+4 { // a point per run, and the legend's 4
		t.Errorf("SVG: %d points and legend marks, want 12", points)
	}
	os.WriteFile(file, []byte(`{"scenarios": [{"name": "a", "talkSeconds": 0}]}`), 0o644)
	if err := run([]string{"-scenarios", file}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "talkSeconds") {
		t.Errorf("a bad file: %v", err)
	}
}
