package fifo

import (
	"sync"
	"testing"
)

// One producer, one consumer: every item arrives once, in order, and the
// producer never waits.
func TestOrderAcrossGoroutines(t *testing.T) {
	q := New[int]()
	const n = 100000
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < n; i++ {
			q.Push(i)
		}
		q.Close()
	}()
	next := 0
	var buf []int
	for {
		items, ok := q.Take(buf)
		if !ok {
			break
		}
		for _, x := range items {
			if x != next {
				t.Fatalf("got %d, want %d", x, next)
			}
			next++
		}
		buf = items
	}
	wg.Wait()
	if next != n {
		t.Fatalf("took %d of %d", next, n)
	}
}

func TestTryTakeAndClose(t *testing.T) {
	q := New[string]()
	if got := q.TryTake(nil); got != nil {
		t.Fatalf("empty queue gave %v", got)
	}
	q.Push("a")
	q.Push("b")
	if q.Len() != 2 {
		t.Fatalf("len %d", q.Len())
	}
	select {
	case <-q.Ready():
	default:
		t.Fatal("no signal after a push")
	}
	if got := q.TryTake(nil); len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("took %v", got)
	}
	q.Push("c")
	q.Close()
	if q.Push("d") {
		t.Fatal("a push after Close was taken")
	}
	if items, ok := q.Take(nil); !ok || len(items) != 1 || items[0] != "c" {
		t.Fatalf("after close: %v %v", items, ok)
	}
	if _, ok := q.Take(nil); ok {
		t.Fatal("a closed, empty queue still gives")
	}
}
