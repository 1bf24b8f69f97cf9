package esl

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testSwitch answers a few api commands and fires numbered events; the
// real switch model is package sim, which has its own tests.
type testSwitch struct {
	srv *Server
	seq atomic.Int64

	mu       sync.Mutex
	received []string // every api and bgapi command, as the handler saw it
}

func (ts *testSwitch) event(name string) *EventBuilder {
	return NewEvent(name).Add("Event-Sequence", strconv.FormatInt(ts.seq.Add(1), 10))
}

func (ts *testSwitch) API(ctx context.Context, cmd, args string) (string, func()) {
	ts.mu.Lock()
	ts.received = append(ts.received, cmd+" "+args)
	ts.mu.Unlock()
	switch cmd {
	case "echo":
		return args, nil
	case "msleep":
		ms, _ := strconv.Atoi(args)
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-ctx.Done():
		}
		return "+OK slept " + args + "\n", nil
	case "burst": // fires N channel events after replying
		n, _ := strconv.Atoi(args)
		return "+OK\n", func() {
			// From a goroutine of its own, as the switch's threads fire
			// events: the connection's loop writes them as they come (run
			// here, nothing would be written before the last was made,
			// minutes on a loaded machine with the race detector).
			go func() {
				for i := 0; i < n; i++ {
					ts.srv.Publish(ts.event("CHANNEL_STATE").Add("Unique-ID", "u-"+strconv.Itoa(i)).Event())
				}
			}()
		}
	case "fail":
		return "-ERR " + args + "\n", nil
	}
	return "-ERR " + cmd + " Command not found!\n", nil
}

func startTestSwitch(t testing.TB, password string, options ...func(*Server)) (*testSwitch, string) {
	t.Helper()
	ts := &testSwitch{}
	ts.srv = &Server{Password: password, Handler: ts}
	for _, o := range options {
		o(ts.srv)
	}
	ts.srv.FireJob = func(job, cmd, args, out string) {
		ts.srv.Publish(JobEvent(ts.event("BACKGROUND_JOB"), job, cmd, args, out))
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go ts.srv.Serve(l)
	t.Cleanup(func() { ts.srv.Close() })
	return ts, l.Addr().String()
}

func dialTest(t testing.TB, addr string, cfg Config) *Conn {
	t.Helper()
	cfg.Password = "ClueCon"
	c, err := Dial(context.Background(), addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialAuthentication(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon")
	for _, tc := range []struct {
		password string
		want     error
	}{
		{"ClueCon", nil},
		{"wrong", ErrAuth},
	} {
		c, err := Dial(context.Background(), addr, Config{Password: tc.password})
		if !errors.Is(err, tc.want) {
			t.Fatalf("password %q: error %v, want %v", tc.password, err, tc.want)
		}
		if c != nil {
			c.Close()
		}
	}
}

func TestDialRudeRejection(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon", func(s *Server) { s.Allow = func(net.Addr) bool { return false } })
	_, err := Dial(context.Background(), addr, Config{Password: "ClueCon"})
	if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), "Access Denied") {
		t.Fatalf("error %v, want ErrRejected with the switch's text", err)
	}
}

// An api caller that gives up must not leave its reply to the next caller.
func TestExpiredCallerNeverStealsAReply(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon")
	c := dialTest(t, addr, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if _, err := c.API(ctx, "msleep 200"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow api: %v, want a deadline error", err)
	}
	for i := 0; i < 20; i++ {
		want := "reply-" + strconv.Itoa(i)
		got, err := c.API(context.Background(), "echo "+want)
		if err != nil || got != want {
			t.Fatalf("api %d: %q, %v; want %q", i, got, err, want)
		}
	}
}

func TestRepliesMatchCommandsUnderConcurrency(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon")
	c := dialTest(t, addr, Config{})
	var wg sync.WaitGroup
	errs := make(chan error, 400)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				want := strconv.Itoa(g) + "-" + strconv.Itoa(i)
				got, err := c.API(context.Background(), "echo "+want)
				if err != nil || got != want {
					errs <- errors.New("got " + got + " want " + want)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestAPIErrorReply(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon")
	c := dialTest(t, addr, Config{})
	out, err := c.API(context.Background(), "fail USER_BUSY")
	var ce *CommandError
	if !errors.As(err, &ce) || ce.Reply != "USER_BUSY" || out != "-ERR USER_BUSY\n" {
		t.Fatalf("out %q, err %v; want -ERR USER_BUSY as a CommandError", out, err)
	}
}

func TestBgAPIReturnsTheJobOutputUnderTheClientsJobID(t *testing.T) {
	_, addr := startTestSwitch(t, "ClueCon")
	var seen []*Event
	var mu sync.Mutex
	c := dialTest(t, addr, Config{OnEvent: func(e *Event) { mu.Lock(); seen = append(seen, e); mu.Unlock() }})
	if err := c.Subscribe(context.Background(), "plain", "BACKGROUND_JOB"); err != nil {
		t.Fatal(err)
	}
	job, err := c.BgAPIJob(context.Background(), "job-42", "echo hello")
	if err != nil {
		t.Fatal(err)
	}
	out, err := job.Wait(context.Background())
	if err != nil || out != "hello" {
		t.Fatalf("job output %q, %v", out, err)
	}
	bad, err := c.BgAPI(context.Background(), "fail NO_ANSWER")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.Wait(context.Background()); err == nil || !strings.Contains(err.Error(), "NO_ANSWER") {
		t.Fatalf("failed job error %v", err)
	}
	if c.RunningJobs() != 0 {
		t.Fatalf("%d jobs still registered", c.RunningJobs())
	}
	deadline := time.Now().Add(time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Get("Job-UUID") != "job-42" {
		t.Fatalf("handler saw %d BACKGROUND_JOB events, first %v", len(seen), seen)
	}
}

// TestBurstKeepsEveryEventInOrder fires 100,000 events back to back and
// checks none is lost or reordered on the way to the handler.
func TestBurstKeepsEveryEventInOrder(t *testing.T) {
	const n = 100000
	_, addr := startTestSwitch(t, "ClueCon")
	var got atomic.Int64
	var reordered, last int64
	done := make(chan struct{})
	c := dialTest(t, addr, Config{OnEvent: func(e *Event) {
		if e.Name() != "CHANNEL_STATE" {
			return
		}
		seq, _ := strconv.ParseInt(e.Get("Event-Sequence"), 10, 64)
		if seq <= last {
			reordered++
		}
		last = seq
		if got.Add(1) == n {
			close(done)
		}
	}})
	if err := c.Subscribe(context.Background(), "plain", "CHANNEL_STATE"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.API(context.Background(), "burst "+strconv.Itoa(n)); err != nil {
		t.Fatal(err)
	}
	// A loaded machine (make test runs packages side by side, with the
	// race detector) may take a minute to format and write the burst:
	// fail when it stops moving, not at a fixed time.
	for seen, still := int64(-1), time.Duration(0); ; {
		select {
		case <-done:
		case <-time.After(time.Second):
			if now := got.Load(); now != seen {
				seen, still = now, 0
			} else if still += time.Second; still > 2*time.Minute {
				t.Fatalf("received %d of %d events, none for %v", now, n, still)
			}
			continue
		}
		break
	}
	if reordered != 0 {
		t.Fatalf("%d events out of order", reordered)
	}
}

func TestLogDataDoesNotStallTheConnection(t *testing.T) {
	ts, addr := startTestSwitch(t, "ClueCon")
	logs := make(chan string, 10)
	c := dialTest(t, addr, Config{OnLog: func(m *Message) { logs <- m.Body }})
	if _, err := c.Send(context.Background(), "log 7", nil, ""); err != nil {
		t.Fatal(err)
	}
	ts.srv.Log(6, "a log line\n")
	if got, err := c.API(context.Background(), "echo still-alive"); err != nil || got != "still-alive" {
		t.Fatalf("api after a log line: %q, %v", got, err)
	}
	select {
	case l := <-logs:
		if l != "a log line\n" {
			t.Fatalf("log %q", l)
		}
	case <-time.After(time.Second):
		t.Fatal("log line not delivered")
	}
}

func TestServerFiltersAndFormats(t *testing.T) {
	for _, format := range []string{"plain", "json", "xml"} {
		t.Run(format, func(t *testing.T) {
			ts, addr := startTestSwitch(t, "ClueCon")
			got := make(chan *Event, 10)
			c := dialTest(t, addr, Config{OnEvent: func(e *Event) { got <- e }})
			ctx := context.Background()
			if err := c.Subscribe(ctx, format, "CHANNEL_ANSWER"); err != nil {
				t.Fatal(err)
			}
			if err := c.Filter(ctx, "Unique-ID", "wanted"); err != nil {
				t.Fatal(err)
			}
			ts.srv.Publish(ts.event("CHANNEL_ANSWER").Add("Unique-ID", "other").Event())
			ts.srv.Publish(ts.event("CHANNEL_HANGUP").Add("Unique-ID", "wanted").Event())
			ts.srv.Publish(ts.event("CHANNEL_ANSWER").Add("Unique-ID", "wanted").Add("variable_x", "a b:c%").Event())
			select {
			case e := <-got:
				if e.UniqueID() != "wanted" || e.Name() != "CHANNEL_ANSWER" || e.Var("x") != "a b:c%" {
					t.Fatalf("got %s", e)
				}
			case <-time.After(time.Second):
				t.Fatal("no event")
			}
			select {
			case e := <-got:
				t.Fatalf("unexpected event %s", e)
			case <-time.After(50 * time.Millisecond):
			}
		})
	}
}

func TestClientReconnectsAndResubscribes(t *testing.T) {
	ts, addr := startTestSwitch(t, "ClueCon")
	events := make(chan string, 100)
	var states []State
	var mu sync.Mutex
	cl := NewClient(ClientConfig{
		Config:     Config{Password: "ClueCon", OnEvent: func(e *Event) { events <- e.UniqueID() }},
		Address:    addr,
		Events:     []string{"CHANNEL_CREATE"},
		MinBackoff: 10 * time.Millisecond,
		OnState:    func(_ string, s State, _ error) { mu.Lock(); states = append(states, s); mu.Unlock() },
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go cl.Run(ctx)
	wait, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	if err := cl.WaitState(wait, Connected); err != nil {
		t.Fatal(err)
	}
	ts.srv.Publish(ts.event("CHANNEL_CREATE").Add("Unique-ID", "before").Event())
	if got := <-events; got != "before" {
		t.Fatalf("got %q", got)
	}
	if ts.srv.DropConnections() != 1 {
		t.Fatal("no connection to drop")
	}
	if err := cl.WaitState(wait, Disconnected); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.API(ctx, "echo x"); !errors.Is(err, ErrNotSent) {
		t.Fatalf("api while disconnected: %v, want ErrNotSent", err)
	}
	if err := cl.WaitState(wait, Connected); err != nil {
		t.Fatal(err)
	}
	ts.srv.Publish(ts.event("CHANNEL_CREATE").Add("Unique-ID", "after").Event())
	select {
	case got := <-events:
		if got != "after" {
			t.Fatalf("got %q", got)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no event after the reconnect: subscription not re-established")
	}
	mu.Lock()
	defer mu.Unlock()
	want := []State{Connecting, Connected, Disconnected, Connecting, Connected}
	for i, s := range want {
		if i >= len(states) || states[i] != s {
			t.Fatalf("states %v, want them to start %v", states, want)
		}
	}
}

func TestPoolPlacesCallsByFreeCapacity(t *testing.T) {
	_, addrA := startTestSwitch(t, "ClueCon")
	_, addrB := startTestSwitch(t, "ClueCon")
	a := NewNode(NewClient(ClientConfig{Config: Config{Password: "ClueCon"}, Name: "a", Address: addrA}), 1)
	b := NewNode(NewClient(ClientConfig{Config: Config{Password: "ClueCon"}, Name: "b", Address: addrB}), 2)
	p := NewPool(a, b)
	if _, err := p.Acquire(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("before connecting: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go p.Run(ctx)
	wait, stop := context.WithTimeout(ctx, 5*time.Second)
	defer stop()
	for _, n := range p.Nodes() {
		if err := n.WaitState(wait, Connected); err != nil {
			t.Fatal(err)
		}
	}
	var names []string
	for i := 0; i < 3; i++ {
		n, err := p.Acquire()
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, n.Name())
	}
	if strings.Join(names, ",") != "b,a,b" && strings.Join(names, ",") != "b,b,a" {
		t.Fatalf("placed on %v", names)
	}
	if _, err := p.Acquire(); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("when full: %v", err)
	}
	a.Release()
	if n, err := p.Acquire(); err != nil || n != a {
		t.Fatalf("after a release: %v, %v", n, err)
	}
	// AcquireOn takes a line of the named node only.
	b.Release()
	if _, err := p.AcquireOn("a"); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("on a full node: %v", err)
	}
	if n, err := p.AcquireOn("b"); err != nil || n != b {
		t.Fatalf("on b: %v, %v", n, err)
	}
	if _, err := p.AcquireOn("c"); !errors.Is(err, ErrNoCapacity) {
		t.Fatalf("on a node that does not exist: %v", err)
	}
}

// TestReplyComesAfterTheEventsBeforeIt: a switch sends events and then a
// reply; however slow the handler, the command returns only after the
// handler has seen those events.
func TestReplyComesAfterTheEventsBeforeIt(t *testing.T) {
	const n = 50
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() { // a scripted switch: auth, then events and the reply in one write
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := NewReader(nc)
		nc.Write(AppendMessage(nil, []Header{{"Content-Type", TypeAuthRequest}}, ""))
		if _, err := r.ReadCommand(); err != nil {
			return
		}
		nc.Write(AppendMessage(nil, []Header{{"Content-Type", TypeCommandReply}, {"Reply-Text", "+OK accepted"}}, ""))
		if _, err := r.ReadCommand(); err != nil {
			return
		}
		var out []byte
		for i := range n {
			body := NewEvent("CHANNEL_HANGUP_COMPLETE").Add("Unique-ID", "u-"+strconv.Itoa(i)).Event().String()
			out = AppendMessage(out, []Header{{"Content-Type", TypeEventPlain}, {"Content-Length", strconv.Itoa(len(body))}}, body)
		}
		out = AppendMessage(out, []Header{{"Content-Type", TypeAPIResponse}, {"Content-Length", "7"}}, "+OK 0\n\n")
		nc.Write(out)
		time.Sleep(time.Second)
	}()
	var handled atomic.Int64
	c := dialTest(t, l.Addr().String(), Config{OnEvent: func(*Event) {
		time.Sleep(time.Millisecond)
		handled.Add(1)
	}})
	if _, err := c.API(context.Background(), "show channels"); err != nil {
		t.Fatal(err)
	}
	if got := handled.Load(); got != n {
		t.Fatalf("the reply came back after %d of the %d events before it", got, n)
	}
}

// A line break or NUL inside a command would make the switch read the rest
// as another command (an injection); the connection refuses to write it,
// whatever the caller, and the switch receives nothing of it.
func TestCommandsWithLineBreaksAreNeverWritten(t *testing.T) {
	ts, addr := startTestSwitch(t, "ClueCon")
	c := dialTest(t, addr, Config{})
	for _, tc := range []struct {
		name    string
		line    string
		headers []Header
	}{
		{"LF in the line", "api echo x\napi hupall MANAGER_REQUEST", nil},
		{"blank line in the line", "bgapi originate x\n\nbgapi hupall NORMAL_CLEARING", nil},
		{"CR in the line", "api echo x\rapi global_setvar x=y", nil},
		{"NUL in the line", "api echo x\x00y", nil},
		{"LF in a header value", "bgapi echo x", []Header{{"Job-UUID", "a\n\napi hupall"}}},
		{"colon in a header name", "bgapi echo x", []Header{{"Job:UUID", "a"}}},
		{"empty header name", "bgapi echo x", []Header{{"", "a"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Send(context.Background(), tc.line, tc.headers, "")
			if !errors.Is(err, ErrBadCommand) || !errors.Is(err, ErrNotSent) {
				t.Fatalf("err %v; want ErrBadCommand and ErrNotSent", err)
			}
		})
	}
	// The connection is still in step: the next command gets its own reply.
	out, err := c.API(context.Background(), "echo still-here")
	if err != nil || out != "still-here" {
		t.Fatalf("after refusals: %q, %v", out, err)
	}
	if _, err := c.BgAPIJob(context.Background(), "job\nhupall", "echo x"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bgapi with a job id holding a line break: %v", err)
	}
	if _, err := c.API(context.Background(), "echo a\nb"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("api: %v", err)
	}
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.received) != 1 || ts.received[0] != "echo still-here" {
		t.Fatalf("the switch received %q; want only the one good command", ts.received)
	}
}
