package httpapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/fsdialer/fsdialer/store"
)

// The seed documents' example requests, as printed. Where the print is not
// valid JSON (003's regular expression escapes, 002's missing comma) or
// holds placeholders (004's "Destination" and "string"), the verbatim
// request must get a clear error, and the repaired one must work.

// seed003Campaign is seed 003's POST /api/v2/dialer body, verbatim.
const seed003Campaign = `{
    "name" : "myPredictiveDialer",
    "description" : "test dialer",
    "type" : "Predictive Dialer",
    "priority" : 1,
    "calendar" : {
        "id" : "594225b53c1956000b41db7b",
        "name" : "WorksDay"
    },
    "parameters" : {
        "limit" : 20,
        "minBillSec" : 10,
        "originateTimeout" : 40,
        "maxTryCount" : 0,
        "intervalTryCount" : 180,
        "wrapUpTime" : 60,
        "predictAdjust" : 150,
        "targetPredictiveSilentCalls" : 2.5,
        "maxPredictiveSilentCalls" : 3,
        "waitingForResultStatus" : true,
        "recordSession" : true,
        "eternalQueue" : true,
        "retryAbandoned" : false,
        "retriesByNumber" : true,
        "oneDayTask" : false
    },
    "amd" : {
        "enabled" : true,
        "allowNotSure" : true,
        "maximumWordLength" : 5000,
        "maximumNumberOfWords" : 3,
        "betweenWordsSilence" : 50,
        "minWordLength" : 100,
        "totalAnalysisTime" : 5000,
        "silenceThreshold" : 256,
        "afterGreetingSilence" : 800,
        "greeting" : 1500,
        "initialSilence" : 2500
    },
    "variables" : {
        "myVar" : "10"
    },
    "numberStrategy" : "by-priority",
    "membersStrategy" : "next-tries-circuit",
    "autoResetStats" : true,
    "resources" : [
        {
            "dialledNumber" : "^\+\d{8,11}\$",
            "destinations" : [
                {
                    "gwName" : "testDialer",
                    "dialString" : "0\$1",
                    "gwProto" : "sip",
                    "order" : 0,
                    "limit" : 10,
                    "enabled" : true,
                    "callerIdNumber" : "000000000"
                }
            ]
        }
    ],
  "agentParams" : {
    "callTimeout" : 20,
    "wrapUpTime" : 40,
    "maxNoAnswer" : 2,
    "busyDelayTime" : 10,
    "rejectDelayTime" : 10,
    "noAnswerDelayTime" : 10
  },
  "agents" : [
    "100",
    "200"
  ],
  "skills" : [
    "english"
  ],
  "agentStrategy" : "longest_idle_agent",
  "communications" : {
    "types" : [
      {
        "name" : "Personal",
        "code" : "1",
        "ranges" : [
          {
            "startTime" : 540,
            "endTime" : 1080,
            "attempts" : 2,
            "priority" : 10
          }
        ]
      },
      {
        "name" : "Home",
        "code" : "2",
        "ranges" : [
          {
            "startTime" : 1080,
            "endTime" : 1260,
            "attempts" : 1,
            "priority" : 5
          }
        ]
      }
    ]
  }
}`

const seed003Member = `{
    "name": "Ivan Ivanov",
    "priority": 10,
    "variables": {
        "productId": "235444"
    },
    "communications": [
        {
            "number": "380911234567",
            "priority": 5,
            "type": "1",
            "description": "new"
        },
        {
            "number": "380921234567",
            "priority": 1,
            "description": "old one, without communication type"
        }
    ],
    "expire": 1497992400000
}`

// seed 002's member (its name was Cyrillic in the original)
const seed002Member = `{
  "name": " ",
  "priority": 0,
  "timezone": "",
  "variables": {
    "debt": 20000,
    "language": "",
    "productID": "8fd26a17-eb28-4c74-aa6f-a3794f4f466c"
  },
  "communications": [
    {
      "number": "0999988888",
      "priority": 1
    }, {
      "number": "3434534534534",
      "priority": 2
    }
  ]
}`

// seed 002's call result, verbatim: a comma is missing after the array.
const seed002Status = `{ "success": false, "reset_retries": false, "next_after_sec": 3600, "next_communication": "380910000000", "stop_communications": ["380920000000", "380930000000"] "comment": " " }`

const seed003Status = `{
    "success": false,
    "reset_retries": false,
    "next_after_sec": 3600,
    "next_communication": "380910000000",
    "stop.communications": ["380920000000", "380930000000"],
    "description": " "
}`

// seed004Items is seed 004 §4.1.2 with its comments removed (JSON has none).
const seed004Items = `{
	"items": [
		{  "bucket": {
				"id": "1"
			},
			"communications": [
				{
					"description": "Description1",
					"destination": "Destination",
					"priority": 0,
					"type": {
						"id": "1"
					}
				}
			],
				"expire_at": "string",
			"name": "Member1",
			"priority": 1,
			"variables": {
			"additionalProp1": "string",
			"additionalProp2": "string",
			"additionalProp3": "string"
			}
		},
		{  "bucket": {
			"id": "2"
		},
		"communications": [
			{
				"description": "Description1",
				"destination": "Destination",
				"priority":0,
				"type": {
					"id": "1"
				}
			},
	{
			"description": "Description1",
			"destination": "Destination",
			"priority": 0,
			"type": {
				"id": "1"
			}
		},
	{
			"description": "Description2",
			"destination": "Destination",
			"priority": 10,
			"type": {
				"id": "2"
				}
			}
		],
			"expire_at": "string",
		"name": "Member2",
		"priority": 100,
		"variables": {
			"additionalProp1": "string",
			"additionalProp2": "string",
			"additionalProp3": "string"
			}
		}
	]
}`

func TestSeedRequests(t *testing.T) {
	f := newFixture(t)
	// A calendar for the campaign to refer to.
	cal := f.do("POST", "/api/v2/calendars", `{"name":"WorksDay","timezone":"Europe/Kyiv","week":[{"day":1,"startTime":540,"endTime":1080}]}`).want(t, 200).insertedID(t)

	// 003 create, as printed: "\+" is not a JSON escape.
	r := f.do("POST", "/api/v2/dialer", seed003Campaign).want(t, 400)
	if !strings.Contains(r.body.Error, "line 48, column 34") {
		t.Fatalf("the error does not give the position: %s", r.body.Error)
	}
	// repaired, with a real calendar id
	campaign := strings.NewReplacer(`"^\+\d{8,11}\$"`, `"^\\+\\d{8,11}$"`, `"0\$1"`, `"0$1"`, "594225b53c1956000b41db7b", cal).Replace(seed003Campaign)
	id := f.do("POST", "/api/v2/dialer", campaign).want(t, 200).insertedID(t)
	var got store.Campaign
	f.do("GET", "/api/v2/dialer/"+id, "").want(t, 200).data(t, &got)
	if got.Name != "myPredictiveDialer" || !got.Parameters.WaitingForResultStatus || got.AgentStrategy != "longest-idle-agent" ||
		got.Resources[0].Destinations[0].CallerIDNumber != "000000000" || len(got.Communications.Types) != 2 || got.State != "idle" {
		t.Fatalf("stored campaign %+v", got)
	}
	// 003 update with PUT: the other spelling of waitingForResultStatus
	put := strings.Replace(campaign, `"waitingForResultStatus" : true`, `"waitForResultStatus" : false`, 1)
	f.do("PUT", "/api/v2/dialer/"+id, put).want(t, 200).data(t, &got)
	if got.Parameters.WaitingForResultStatus {
		t.Fatal("waitForResultStatus was not read")
	}
	// 003 state: the seed's predictive campaign starts and stops
	f.do("PUT", "/api/v2/dialer/"+id+"/state/1", "").want(t, 200)
	f.do("PUT", "/api/v2/dialer/"+id+"/state/0", "").want(t, 200)

	// 003 member, with autoRun as printed
	bc := f.campaign()
	mid := f.do("POST", "/api/v2/dialer/"+bc+"/members?autoRun=true", seed003Member).want(t, 200).insertedID(t)
	var m struct {
		ID             string `json:"_id"`
		Name           string
		Priority       int
		Expire         int64
		Communications []struct{ Number, Type, Description string }
	}
	f.do("GET", "/api/v2/dialer/"+bc+"/members/"+mid, "").want(t, 200).data(t, &m)
	if m.ID != mid || m.Name != "Ivan Ivanov" || m.Priority != 10 || m.Expire != 1497992400000 || m.Communications[0].Type != "1" || m.Communications[1].Description != "old one, without communication type" {
		t.Fatalf("member %+v", m)
	}
	var camp store.Campaign
	f.do("GET", "/api/v2/dialer/"+bc, "").want(t, 200).data(t, &camp)
	if camp.State != "running" {
		t.Fatalf("autoRun left the campaign %s", camp.State)
	}
	// 002 member
	f.do("POST", "/api/v2/dialer/"+bc+"/members", seed002Member).want(t, 200).insertedID(t)

	// 004 items as printed: placeholders, each item refused with every
	// field named as the seed spells it
	var refused struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []struct {
			Index  int
			Fields []struct{ Field string }
		}
	}
	f.do("POST", "/api/v2/dialer/"+bc+"/members", seed004Items).want(t, 200).data(t, &refused)
	if len(refused.InsertedIDs) != 0 || len(refused.Errors) != 2 {
		t.Fatalf("placeholders: %+v", refused)
	}
	for i, e := range refused.Errors {
		var names []string
		for _, fe := range e.Fields {
			names = append(names, fe.Field)
		}
		want := []string{"expire_at", "communications[0].destination", "communications[1].destination", "communications[2].destination"}[:2+2*i]
		if e.Index != i || strings.Join(names, " ") != strings.Join(want, " ") {
			t.Fatalf("item %d: fields %v, want %v", i, names, want)
		}
	}
	// with the placeholders filled in: both created, buckets kept
	items := strings.Replace(seed004Items, `"expire_at": "string"`, `"expire_at": "2030-01-01"`, -1)
	for i, n := range []string{"380501110001", "380501110002", "380501110003", "380501110004"} {
		items = strings.Replace(items, `"destination": "Destination"`, `"destination": "`+n+`"`, 1)
		_ = i
	}
	r = f.do("POST", "/api/v2/dialer/"+bc+"/members", items).want(t, 200)
	var ins struct {
		InsertedIDs []string `json:"insertedIds"`
		Errors      []any
	}
	r.data(t, &ins)
	if len(ins.InsertedIDs) != 2 || len(ins.Errors) != 0 {
		t.Fatalf("items: %s", r.raw)
	}
	var m2 struct {
		Bucket         struct{ ID string }
		Expire         int64
		Communications []struct{ Number, Type string }
	}
	f.do("GET", "/api/v2/dialer/"+bc+"/members/"+ins.InsertedIDs[1], "").want(t, 200).data(t, &m2)
	if m2.Bucket.ID != "2" || len(m2.Communications) != 3 || m2.Communications[2].Type != "2" || m2.Expire == 0 {
		t.Fatalf("seed 004 member %+v", m2)
	}

	// 002 status, as printed: the missing comma is named. A result answers
	// a call: both members had theirs answered and await a result.
	bc, awaiting := f.awaitingResults("380920000000,380930000000,380940000000", "380920000001", "380920000002")
	target, target2, target3 := awaiting[0], awaiting[1], awaiting[2]
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target+"/status", seed002Status).want(t, 400)
	if !strings.Contains(r.body.Error, "line 1, column 163") {
		t.Fatalf("the error does not give the position: %s", r.body.Error)
	}
	// repaired
	var after struct {
		State          string
		NextTryAt      int64
		Communications []struct {
			Number  string
			Stopped bool
		}
	}
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target+"/status", strings.Replace(seed002Status, `] "comment"`, `], "comment"`, 1)).want(t, 200).data(t, &after)
	if after.State != "waiting" || after.NextTryAt != f.clk.Now().Add(3600e9).UnixMilli() || !after.Communications[0].Stopped || !after.Communications[1].Stopped ||
		after.Communications[2].Stopped || after.Communications[3].Number != "380910000000" {
		t.Fatalf("after the result: %+v", after)
	}
	// 003 status: stop.communications and description
	// as printed: its next_communication is now the first member's number
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/status", seed003Status).want(t, 409)
	if !strings.Contains(r.body.Error, "380910000000 already belongs to member "+target) {
		t.Fatalf("conflict not named: %s", r.raw)
	}
	// numbers to stop that are not the member's (the seed's are another
	// member's) are ignored, and said so: the rest of the result applies
	r = f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target3+"/status", strings.Replace(seed003Status, `"next_communication": "380910000000",`, "", 1)).want(t, 200)
	var applied struct {
		State     string
		NextTryAt int64
	}
	r.data(t, &applied)
	var ignored struct{ Ignored []string }
	_ = json.Unmarshal([]byte(r.raw), &ignored)
	if applied.State != "waiting" || applied.NextTryAt != f.clk.Now().Add(3600e9).UnixMilli() || len(ignored.Ignored) != 2 ||
		!strings.HasPrefix(ignored.Ignored[0], "stop_communications[0]: 380920000000 is not a number of member "+target3) {
		t.Fatalf("seed 003's result with another member's numbers: %s", r.raw)
	}
	var all struct {
		Communications []struct {
			Number  string
			Stopped bool
		}
	}
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/status", `{"success": false, "next_communication": "380910000001", "stop.communications": "all", "description": "busy line"}`).want(t, 200).data(t, &all)
	if !all.Communications[0].Stopped || all.Communications[1].Number != "380910000001" || all.Communications[1].Stopped {
		t.Fatalf("stop all but the next: %+v", all)
	}
	// 003 terminate
	var term struct{ State, EndCause string }
	f.do("PUT", "/api/v2/dialer/"+bc+"/members/"+target2+"/terminate", "").want(t, 200).data(t, &term)
	if term.State != "done" || term.EndCause != "TERMINATED" {
		t.Fatalf("terminated member %+v", term)
	}
}
