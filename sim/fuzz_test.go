package sim

import (
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/clock"
)

// FuzzAPI sends arbitrary api commands to a switch: no input may panic it.
func FuzzAPI(f *testing.F) {
	for _, s := range []string{
		"originate {origination_uuid=x,originate_timeout=5}sofia/gateway/gw/1000 &park()",
		"originate {^^:a=1:b=2}[c='d e']sofia/internal/1000@host 100 XML default 'Name' 555 30",
		"originate <x=1>user/1000 &playback(/a.wav)",
		"originate {a=1\\,2}loopback/ivr &park()",
		"uuid_bridge a b", "uuid_kill x CALL_REJECTED", "uuid_setvar x a", "hupall NORMAL_CLEARING a b",
		"show channels", "show calls as json", "uuid_broadcast x amd:: aleg", "uuid_transfer x -bleg ivr", "uuid_transfer x m:^:playback:a,b^hangup inline",
		"originate {origination_nested_vars=true,x=${y}}sofia/gateway/gw/1 &playback(/a ${x}.wav)",
		"originate {a=${b}}[^^;c=1,2;d=3]sofia/gateway/gw/1,user/1000|loopback/ivr &playback(tone(1).wav)",
		"originate ^^:{a=1}user/1000:&park():undef:undef:x:1:5",
		"originate {a='x,y'}{{b=2}}sofia/gateway/gw/1 &set(x=${a:1:2}${uuid_getvar ${uuid} a})",
		"originate <u=1 user/1000 undef", "originate [a=1\\]user/1000 &sleep(10)", "originate {^^}user/1000 &",
		"originate sofia/gateway/gw &park()",
		"originate {origination_nested_vars=true,api_hangup_hook=db::insert/r/${uuid}/${billsec}:${x:1:2},api_reporting_hook=uuid_kill ${uuid}}sofia/gateway/gw/1 &hangup(USER_BUSY)",
		"originate {origination_nested_vars=true,api_hangup_hook=hash::insert/r/${uuid}/${show channels like ${uuid}}}user/1000 &park()",
		"db insert/a/b/c/d", "db list", "db count/a", "db delete/a", "hash insert_ifempty/a/b/c", "hash delete_ifmatch/a/b/c",
		"show channels like %_x as json", "show channels count as json", "show calls count", "show channels as delim |", "originate sofia/x &park()", "originate {app_disable_expand_variables=true}user/1000 &nosuch()",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		sc := mustScenario(t, "gateways: [{name: gw}]\nagents: [{extension: '1000'}]\nextensions: {ivr: {duration: {mean: 1}}}")
		clk := clock.NewFake(testEpoch)
		sw := New(sc, clk, Options{})
		cmd, args := line, ""
		for i := 0; i < len(line); i++ {
			if line[i] == ' ' {
				cmd, args = line[:i], line[i+1:]
				break
			}
		}
		// The ledger frames whatever a client sends, in any pieces.
		c := &recordingConn{s: sw, id: 1}
		for i := 0; i < len(line); i += 3 {
			c.feed([]byte(line[i:min(i+3, len(line))]))
		}
		c.feed([]byte("\n\n"))
		if cmd == "msleep" {
			return
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, then := sw.API(t.Context(), cmd, args)
			if then != nil {
				then()
			}
		}()
		// Calls block until the clock moves: run it well past any timeout.
		for i := 0; i < 50; i++ {
			select {
			case <-done:
				return
			default:
				clk.Advance(10 * time.Second)
				time.Sleep(100 * time.Microsecond)
			}
		}
		<-done
	})
}
