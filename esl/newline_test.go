package esl

import (
	"slices"
	"strings"
	"testing"
)

// naiveHeaderLines is indexHeaderLines written the obvious way, a byte at a
// time: the reference the kernel-based scanner must agree with.
func naiveHeaderLines(s string) ([]uint32, int) {
	var ends []uint32
	start := 0
	for end := 0; end <= len(s); end++ {
		if end < len(s) && s[end] != '\n' {
			continue
		}
		if line := s[start:end]; line == "" || line == "\r" {
			return ends, min(end+1, len(s))
		}
		ends = append(ends, uint32(end))
		start = end + 1
	}
	return ends, len(s)
}

func TestIndexHeaderLines(t *testing.T) {
	long := strings.Repeat("Variable_x: "+strings.Repeat("v", 50)+"\n", 40) // 2.5 KB: several kernel blocks
	tests := []struct {
		name string
		in   string
		ends []uint32
		pos  int
	}{
		{"empty", "", nil, 0},
		{"blank line only", "\n", nil, 1},
		{"CRLF blank line only", "\r\nA: 1\n", nil, 2},
		{"one line, no end", "A: 1", []uint32{4}, 4},
		{"lone CR at the end is blank", "A: 1\n\r", []uint32{4}, 6},
		{"headers and body", "A: 1\nB: 2\n\nbody\n", []uint32{4, 9}, 11},
		{"CRLF headers", "A: 1\r\nB: 2\r\n\r\nbody", []uint32{5, 11}, 14},
		{"newline at byte 63 and 64", strings.Repeat("x", 63) + "\n\nrest", []uint32{63}, 65},
		{"blank line in the tail after full words", strings.Repeat("y", 70) + "\n\n", []uint32{70}, 72},
		{"no blank line", "A: 1\nB: 2\n", []uint32{4, 9}, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ends, pos := indexHeaderLines(tc.in)
			if !slices.Equal(ends, tc.ends) || pos != tc.pos {
				t.Errorf("got %v, %d; want %v, %d", ends, pos, tc.ends, tc.pos)
			}
		})
	}
	ends, pos := indexHeaderLines(long + "\nbody")
	if len(ends) != 40 || pos != len(long)+1 {
		t.Errorf("2.5 KB of headers: %d lines ending at %d, want 40 at %d", len(ends), pos, len(long)+1)
	}
}

// FuzzIndexHeaderLines checks the assembly kernel against the generic one
// and the scanner against the byte-at-a-time reference, on any input.
func FuzzIndexHeaderLines(f *testing.F) {
	for _, data := range captureFiles(f) {
		f.Add(string(data[:min(len(data), 3000)]))
	}
	f.Add("A: 1\r\n\r\n")
	f.Add(strings.Repeat("\n", 200))
	f.Fuzz(func(t *testing.T, s string) {
		words := len(s) / 64
		got, want := make([]uint64, words), make([]uint64, words)
		newlineMask(s, got)
		newlineMaskGeneric(s, want)
		if !slices.Equal(got, want) {
			t.Fatalf("newlineMask = %x, generic = %x", got, want)
		}
		ends, pos := indexHeaderLines(s)
		wantEnds, wantPos := naiveHeaderLines(s)
		if !slices.Equal(ends, wantEnds) || pos != wantPos {
			t.Fatalf("indexHeaderLines = %v, %d; the byte-at-a-time scan gives %v, %d", ends, pos, wantEnds, wantPos)
		}
	})
}

// BenchmarkIndexHeaderLines indexes the header lines of every captured
// event: the part of ParseEvents the newline kernel speeds up.
func BenchmarkIndexHeaderLines(b *testing.B) {
	stream, n := captureEventStream(b)
	var bodies []string
	r := NewReader(strings.NewReader(string(stream)))
	for range n {
		m, err := r.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, m.Body)
	}
	b.SetBytes(int64(len(stream) / n))
	i := 0
	for b.Loop() {
		indexHeaderLines(bodies[i%n])
		i++
	}
}
