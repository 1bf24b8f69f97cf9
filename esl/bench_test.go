package esl

import (
	"bytes"
	"io"
	"testing"
)

// captureEventStream returns every plain event message of the captures, in
// wire form, concatenated, and how many there are.
func captureEventStream(b testing.TB) ([]byte, int) {
	var out []byte
	n := 0
	for _, data := range captureFiles(b) {
		r := NewReader(bytes.NewReader(data))
		for {
			m, err := r.ReadMessage()
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			if m.ContentType() == TypeEventPlain {
				out = AppendMessage(out, m.Headers, m.Body)
				n++
			}
		}
	}
	return out, n
}

// endless reads data over and over, as a connection that never ends.
type endless struct {
	data []byte
	at   int
}

func (e *endless) Read(p []byte) (int, error) {
	n := copy(p, e.data[e.at:])
	e.at = (e.at + n) % len(e.data)
	return n, nil
}

// BenchmarkParseEvents reads and parses the captured channel events (3-5 KB
// each, 60-200 headers) from one connection's byte stream, and reads the
// headers the engine routes by. Run with -cpu 1 for the per-core figure.
func BenchmarkParseEvents(b *testing.B) {
	stream, n := captureEventStream(b)
	b.SetBytes(int64(len(stream) / n))
	b.ReportAllocs()
	r := NewReader(&endless{data: stream})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m, err := r.ReadMessage()
		if err != nil {
			b.Fatal(err)
		}
		ev, err := ParseEvent(m)
		if err != nil {
			b.Fatal(err)
		}
		if ev.Name() == "" || ev.Get("Unique-ID") == "" && ev.Get("Job-UUID") == "" {
			b.Fatal("event without its routing headers")
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
