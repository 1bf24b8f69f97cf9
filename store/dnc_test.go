package store_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/fsdialer/fsdialer/store"
	"github.com/fsdialer/fsdialer/store/storetest"
)

// TestDoNotCallLists: numbers and prefixes on the global list and on a
// campaign's; a check finds each number by itself or by its shortest
// listed prefix, on the global list first, + or not; a campaign's list
// holds for that campaign only; removal, paging, and a bad entry that
// adds nothing and is named.
func TestDoNotCallLists(t *testing.T) {
	storetest.Backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if n, err := s.AddDNC(ctx, "", []string{"+380501111111", "38067*", "380 67 1*"}); err != nil || n != 3 {
			t.Fatalf("global: %d %v", n, err)
		}
		if n, err := s.AddDNC(ctx, "c1", []string{"380502222222", "380502222222", "44*"}); err != nil || n != 2 {
			t.Fatalf("campaign: %d %v", n, err)
		}
		_, err := s.AddDNC(ctx, "", []string{"380503333333", "call me"})
		var ve *store.ValidationError
		if !errors.As(err, &ve) || ve.Errors[0].Field != "numbers[1]" {
			t.Fatalf("a bad entry: %v", err)
		}
		numbers := []string{"380501111111", "+380671234567", "380502222222", "+447700900123", "380509999999", "x"}
		for _, tc := range []struct {
			campaign string
			want     map[string]store.DNCHit
		}{
			{"", map[string]store.DNCHit{"380501111111": {"", "380501111111"}, "+380671234567": {"", "38067*"}}},
			{"c1", map[string]store.DNCHit{"380501111111": {"", "380501111111"}, "+380671234567": {"", "38067*"},
				"380502222222": {"c1", "380502222222"}, "+447700900123": {"c1", "44*"}}},
			{"c2", map[string]store.DNCHit{"380501111111": {"", "380501111111"}, "+380671234567": {"", "38067*"}}},
		} {
			got, err := s.CheckDNC(ctx, tc.campaign, numbers)
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("campaign %q: %v %v, want %v", tc.campaign, got, err, tc.want)
			}
			for n, h := range tc.want {
				if got[n] != h {
					t.Errorf("campaign %q, %s: %+v, want %+v", tc.campaign, n, got[n], h)
				}
			}
		}
		if n, err := s.RemoveDNC(ctx, "", []string{"38067*", "380509999999"}); err != nil || n != 1 {
			t.Fatalf("remove: %d %v", n, err)
		}
		if got, _ := s.CheckDNC(ctx, "", []string{"380679999999", "380671234567"}); len(got) != 1 || got["380671234567"].Entry != "380671*" {
			t.Fatalf("after 38067* was removed (380671* stays): %v", got)
		}
		// A list of 1,000 read in pages of 100: every entry once.
		var many []string
		for i := range 1000 {
			many = append(many, fmt.Sprintf("38093%07d", i))
		}
		if _, err := s.AddDNC(ctx, "big", append(many, "38099*")); err != nil {
			t.Fatal(err)
		}
		var all []string
		cursor := ""
		for pages := 0; ; pages++ {
			p, err := s.ListDNC(ctx, "big", cursor, 100)
			if err != nil || pages > 100 {
				t.Fatalf("page %d: %v", pages, err)
			}
			all = append(all, p.Entries...)
			if cursor = p.Next; cursor == "" {
				break
			}
		}
		slices.Sort(all)
		all = slices.Compact(all)
		if len(all) != 1001 || all[1000] != "38099*" {
			t.Fatalf("listed %d entries, want 1,001 with the prefix", len(all))
		}
		if n, p, err := s.DNCCount(ctx, "big"); n != 1000 || p != 1 || err != nil {
			t.Fatalf("count %d %d %v", n, p, err)
		}
		if _, err := s.ListDNC(ctx, "big", "garbage", 10); !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("a bad cursor: %v", err)
		}
	})
}
