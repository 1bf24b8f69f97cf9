package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// TestMemberPaging: unfiltered member pages hold at most limit members,
// in the order they were added, and next leads through all of them once,
// on Redis as on the embedded Redis of the demo (whose HSCAN ignores
// COUNT), past deleted members.
func TestMemberPaging(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		c := &store.Campaign{Name: "p", Type: store.TypeBroadcast, Parameters: store.Parameters{Limit: 1},
			Resources: []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw"}}}}, Broadcast: store.Broadcast{File: "/f.wav"}}
		if err := s.CreateCampaign(ctx, c, now); err != nil {
			t.Fatal(err)
		}
		var members []*store.Member
		for i := 0; i < 530; i++ {
			members = append(members, &store.Member{Name: fmt.Sprint(i), Communications: []store.Communication{{Number: fmt.Sprintf("38050%07d", i)}}})
		}
		res, err := s.InsertMembers(ctx, c, members, now)
		if err != nil {
			t.Fatal(err)
		}
		// delete 400 in a row: one page must not walk them all
		for i, r := range res[10:410] {
			m := members[10+i]
			if err := s.WriteMember(ctx, c.ID, &store.Write{Member: m, Placement: store.Placement{Place: "delete"},
				DelNumbers: []string{m.Communications[0].Number}}); err != nil || r.ID != m.ID {
				t.Fatal(err)
			}
		}
		for _, limit := range []int{1, 2, 7, 130, 1000} {
			var seen []string
			pages := 0
			for cursor := ""; ; {
				page, err := s.ListMembers(ctx, c.ID, "", 0, cursor, limit)
				if err != nil {
					t.Fatalf("limit %d cursor %q: %v", limit, cursor, err)
				}
				if len(page.Members) > limit || page.Total != 130 {
					t.Fatalf("limit %d: a page of %d, total %d", limit, len(page.Members), page.Total)
				}
				for i, m := range page.Members {
					seen = append(seen, m.ID)
					if page.States[i] != store.MemberReady {
						t.Fatalf("member %s state %q", m.ID, page.States[i])
					}
				}
				pages++
				if page.Next == "" {
					break
				}
				if pages > 200 {
					t.Fatalf("limit %d: next never ends", limit)
				}
				cursor = page.Next
			}
			if len(seen) != 130 {
				t.Fatalf("limit %d: %d members over %d pages", limit, len(seen), pages)
			}
			for i := 1; i < len(seen); i++ {
				if seen[i] <= seen[i-1] {
					t.Fatalf("limit %d: %s after %s", limit, seen[i], seen[i-1])
				}
			}
			if limit == 2 && pages < 65 {
				t.Fatalf("limit 2: %d pages", pages)
			}
		}
		if _, err := s.ListMembers(ctx, c.ID, "", 0, "abc", 10); err == nil {
			t.Fatal("a bad cursor was taken")
		}
	})
}

// TestMemberPagingOnTheDemo: the API pages members on the embedded Redis.
func TestMemberPagingOnTheDemo(t *testing.T) {
	f := newEmbeddedFixture(t)
	id := f.campaign()
	items := ""
	for i := 0; i < 5; i++ {
		if i > 0 {
			items += ","
		}
		items += fmt.Sprintf(`{"name":"m%d","communications":[{"number":"38050400%04d"}]}`, i, i)
	}
	f.do("POST", "/api/v2/dialer/"+id+"/members", `{"items":[`+items+`]}`).want(t, 200)
	var names []string
	for cursor := "0"; ; {
		r := f.do("GET", "/api/v2/dialer/"+id+"/members?limit=2&cursor="+cursor, "").want(t, 200)
		var page []struct{ Name string }
		r.data(t, &page)
		if len(page) > 2 {
			t.Fatalf("a page of %d", len(page))
		}
		for _, m := range page {
			names = append(names, m.Name)
		}
		if r.body.Next == "" {
			break
		}
		cursor = r.body.Next
	}
	if fmt.Sprint(names) != "[m0 m1 m2 m3 m4]" {
		t.Fatalf("paged %v", names)
	}
}
