// Package fifo is an unbounded first-in first-out queue between one
// producer and one consumer goroutine: the producer never waits, the
// consumer takes everything queued at once.
package fifo

import "sync"

// Queue is an unbounded FIFO. Use New.
type Queue[T any] struct {
	mu     sync.Mutex
	items  []T
	signal chan struct{}
	closed bool
}

// New returns an empty queue.
func New[T any]() *Queue[T] {
	return &Queue[T]{signal: make(chan struct{}, 1)}
}

// Push appends x; it reports false once the queue is closed.
func (q *Queue[T]) Push(x T) bool {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, x)
	q.mu.Unlock()
	q.notify()
	return true
}

func (q *Queue[T]) notify() {
	select {
	case q.signal <- struct{}{}:
	default:
	}
}

// Close ends the queue; what was pushed before can still be taken.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	q.closed = true
	q.mu.Unlock()
	q.notify()
}

// Ready is signalled after a Push or Close; select on it, then TryTake.
func (q *Queue[T]) Ready() <-chan struct{} { return q.signal }

// TryTake returns everything queued without waiting, handing buf (emptied)
// to the queue as its next backing array.
func (q *Queue[T]) TryTake(buf []T) []T {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.items) == 0 {
		return nil
	}
	items := q.items
	q.items = buf[:0]
	return items
}

// Take waits for items and returns all of them; ok is false once the queue
// is closed and empty.
func (q *Queue[T]) Take(buf []T) (items []T, ok bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			items = q.items
			q.items = buf[:0]
			q.mu.Unlock()
			return items, true
		}
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		q.mu.Unlock()
		<-q.signal
	}
}

// Len returns the number of queued items.
func (q *Queue[T]) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}
