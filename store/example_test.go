package store_test

import (
	"context"
	"fmt"
	"time"

	"github.com/fsdialer/fsdialer/store"
)

func ExampleOpen() {
	ctx := context.Background()
	// "embedded" runs Redis in the process; production gives redis://host:6379/0.
	s, err := store.Open(ctx, store.Config{URL: "embedded"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	now := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	c := &store.Campaign{Name: "reminders", Type: store.TypeBroadcast,
		Parameters: store.Parameters{Limit: 10},
		Resources:  []store.Resource{{DialledNumber: ".", Destinations: []store.Destination{{GwName: "gw", Enabled: true}}}},
		Broadcast:  store.Broadcast{File: "/msg.wav"}}
	if err := s.CreateCampaign(ctx, c, now); err != nil {
		fmt.Println(err)
		return
	}
	res, _ := s.InsertMembers(ctx, c, []*store.Member{
		{Name: "Ann", Communications: []store.Communication{{Number: "+380911234567"}}},
		{Name: "Bob", Communications: []store.Communication{{Number: "+380 91 123 45 67"}}}, // the same number
	}, now)
	fmt.Println(res[0].ID, res[1].Err)
	claimed, _ := s.ClaimMembers(ctx, c.ID, 5, now, now.Add(time.Minute))
	fmt.Println(len(claimed), claimed[0].Member.Name)
	// Output:
	// 0000001 number +380911234567 already belongs to member 0000001
	// 1 Ann
}
