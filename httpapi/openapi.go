package httpapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
)

type obj = map[string]any

// openAPIDoc is the OpenAPI 3 document, made from the route table.
var openAPIDoc = func() []byte {
	b, err := json.MarshalIndent(buildOpenAPI(), "", "  ")
	if err != nil {
		panic(err) // maps of strings: cannot fail
	}
	return b
}()

func (a *api) openAPI(c echo.Context) error {
	return c.JSONBlob(http.StatusOK, openAPIDoc)
}

var pathParam = regexp.MustCompile(`:(\w+)`)

// openAPIPath turns an Echo path into an OpenAPI one.
func openAPIPath(p string) string { return "/api/v2" + pathParam.ReplaceAllString(p, "{$1}") }

var queryDocs = map[string]obj{
	"offset":     {"description": "Items to skip", "schema": obj{"type": "integer", "minimum": 0}},
	"limit":      {"description": "Items per page (default 40, history 100)", "schema": obj{"type": "integer", "minimum": 1, "maximum": 1000}},
	"page":       {"description": "Page from 1 (instead of offset)", "schema": obj{"type": "integer", "minimum": 1}},
	"before":     {"description": "History: the next page's cursor (from \"next\")", "schema": obj{"type": "string"}},
	"autoRun":    {"description": "Start the campaign once members are added", "schema": obj{"type": "boolean"}},
	"state":      {"description": "Only members in this state", "schema": obj{"type": "string", "enum": []string{"ready", "waiting", "leased", "result", "done"}}},
	"number":     {"description": "The member with this number (+ written %2B)", "schema": obj{"type": "string"}},
	"cursor":     {"description": "Unfiltered lists, in the order members were added: the next page's cursor (from \"next\"; a page may be short while next is set)", "schema": obj{"type": "string"}},
	"columns":    {"description": "CSV column mapping: name, priority, timezone, expire, bucket, number[:type], description, var:NAME, - (skip); without it the first line names the columns", "schema": obj{"type": "string"}, "example": "name,number:1,number:2,var:debt"},
	"separator":  {"description": "CSV separator: one character (URL-encoded: %3B for ;) or comma, semicolon, tab, pipe (default comma)", "schema": obj{"type": "string"}},
	"charset":    {"description": "CSV character set (default utf-8; windows-1251, koi8-r...)", "schema": obj{"type": "string"}},
	"skipHeader": {"description": "Ignore the first CSV line (when columns are given)", "schema": obj{"type": "boolean"}},
}

func ref(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }

func buildOpenAPI() obj {
	paths := obj{}
	add := func(path, method string, op obj) {
		item, _ := paths[path].(obj)
		if item == nil {
			item = obj{}
			paths[path] = item
		}
		item[strings.ToLower(method)] = op
	}
	for _, r := range allRoutes() {
		op := obj{"summary": r.summary, "operationId": operationID(r)}
		var params []obj
		for _, m := range pathParam.FindAllStringSubmatch(r.path, -1) {
			params = append(params, obj{"name": m[1], "in": "path", "required": true, "schema": obj{"type": "string"}})
		}
		for _, q := range r.query {
			p := obj{"name": q, "in": "query"}
			for k, v := range queryDocs[q] {
				p[k] = v
			}
			params = append(params, p)
		}
		if params != nil {
			op["parameters"] = params
		}
		switch r.body {
		case "":
		case "CSV":
			op["requestBody"] = obj{"required": true, "content": obj{
				"text/csv":            obj{"schema": obj{"type": "string"}},
				"multipart/form-data": obj{"schema": obj{"type": "object", "properties": obj{"file": obj{"type": "string", "format": "binary"}}}},
			}}
		default:
			op["requestBody"] = obj{"required": true, "content": obj{"application/json": obj{"schema": ref(r.body)}}}
		}
		schema := obj{"type": "object", "required": []string{"status", "data"},
			"properties": obj{"status": obj{"type": "string", "enum": []string{"OK"}}, "data": ref(r.response),
				"total": obj{"type": "integer"}, "next": obj{"type": "string"}}}
		if bareResponses[r.response] {
			schema = ref(r.response)
		}
		responses := obj{"200": obj{"description": "OK", "content": obj{"application/json": obj{"schema": schema}}}}
		statuses := append([]int{401, 500, 503}, r.statuses...)
		if r.write {
			statuses = append(statuses, 403)
		}
		for _, s := range statuses {
			responses[strconv.Itoa(s)] = obj{"description": http.StatusText(s), "content": obj{"application/json": obj{"schema": ref("Error")}}}
		}
		op["responses"] = responses
		op["security"] = []obj{{"accessToken": []string{}}, {"key": []string{}}}
		add(openAPIPath(r.path), r.method, op)
	}
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "fsdialer", "version": "2",
			"description": "The dialer's REST API, compatible with the seed documents' /api/v2/dialer. Errors name every offending field."},
		"servers": []obj{{"url": "/"}},
		"paths":   paths,
		"components": obj{
			"securitySchemes": obj{
				"accessToken": obj{"type": "apiKey", "in": "header", "name": "X-Access-Token"},
				"key":         obj{"type": "apiKey", "in": "header", "name": "X-Key"},
			},
			"schemas": withHookSchemas(schemas()),
		},
	}
}

func operationID(r route) string {
	words := strings.FieldsFunc(r.path, func(c rune) bool { return c == '/' || c == ':' })
	return strings.ToLower(r.method) + "_" + strings.Join(words, "_")
}

func str() obj        { return obj{"type": "string"} }
func integer() obj    { return obj{"type": "integer"} }
func number() obj     { return obj{"type": "number"} }
func boolean() obj    { return obj{"type": "boolean"} }
func array(o obj) obj { return obj{"type": "array", "items": o} }
func object(props obj, required ...string) obj {
	o := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

func schemas() obj {
	variables := obj{"type": "object", "additionalProperties": obj{"oneOf": []obj{str(), number(), boolean()}}}
	causes := array(str())
	return obj{
		"Error": object(obj{"status": obj{"type": "string", "enum": []string{"error"}}, "error": str(),
			"fields": array(object(obj{"field": str(), "message": str()}))}, "status", "error"),
		"Campaign": object(obj{
			"_id": str(), "name": str(), "description": str(),
			"type":     obj{"type": "string", "enum": []string{"Predictive Dialer", "Progressive Dialer", "Preview Dialer", "Voice Broadcasting"}},
			"priority": integer(), "calendar": object(obj{"id": str(), "name": str()}),
			"parameters": object(obj{"limit": integer(), "minBillSec": integer(), "originateTimeout": integer(), "maxTryCount": integer(),
				"intervalTryCount": integer(), "wrapUpTime": integer(), "predictAdjust": integer(),
				"targetPredictiveSilentCalls": number(), "maxPredictiveSilentCalls": number(),
				"waitingForResultStatus": boolean(), "waitForResultStatus": obj{"type": "boolean", "description": "another spelling of waitingForResultStatus"},
				"recordSession": boolean(), "eternalQueue": boolean(), "retryAbandoned": boolean(), "retriesByNumber": boolean(), "oneDayTask": boolean()}),
			"amd": object(obj{"enabled": boolean(), "allowNotSure": boolean(), "maximumWordLength": integer(), "maximumNumberOfWords": integer(),
				"betweenWordsSilence": integer(), "minWordLength": integer(), "totalAnalysisTime": integer(), "silenceThreshold": integer(),
				"afterGreetingSilence": integer(), "greeting": integer(), "initialSilence": integer(),
				"falseMachineRate": obj{"type": "number", "description": "percent of MACHINE verdicts taken for people in the abandon rate (AMD's false positives; required with AMD under the UK profile)"},
				"machineMessage":   obj{"type": "string", "description": "played to a machine (and a not-sure answer not allowed to agents) after the verdict, then the call ends; unset: hung up"}}),
			"predictive": object(obj{
				"connectThreshold":    obj{"type": "number", "description": "seconds a live answer may wait for an agent, from the answer or the AMD verdict (default 2)"},
				"safeHarborFile":      obj{"type": "string", "description": "what a live answer no agent took in time hears (default ${sounds_dir}/fsdialer/safe-harbor.wav)"},
				"abandonLockoutHours": obj{"type": "integer", "description": "a number whose call was abandoned is not dialed predictively again for so long (default 72)"}}),
			"preview": object(obj{
				"offerTimeout": obj{"type": "integer", "description": "seconds an offer waits for the agent's answer (default 30)"},
				"onTimeout":    obj{"type": "string", "enum": []string{"skip", "dial"}, "description": "what an unanswered offer does (default skip)"}}),
			"compliance":      obj{"type": "string", "enum": []string{"us", "uk", "none"}, "description": "the regulator's rules the campaign keeps: its abandon-rate window and what it refuses"},
			"variables":       variables,
			"numberStrategy":  obj{"type": "string", "enum": []string{"by-priority", "top-down"}},
			"membersStrategy": obj{"type": "string", "enum": []string{"next-tries-circuit", "strict-circuit"}},
			"autoResetStats":  boolean(),
			"resources": array(object(obj{"dialledNumber": obj{"type": "string", "description": "regular expression (dialedNumber also accepted)"},
				"destinations": array(object(obj{"gwName": str(), "dialString": str(), "gwProto": str(), "order": integer(), "limit": integer(), "enabled": boolean(), "callerIdNumber": str()}))})),
			"agentParams": object(obj{"callTimeout": integer(), "wrapUpTime": integer(), "maxNoAnswer": integer(), "busyDelayTime": integer(), "rejectDelayTime": integer(), "noAnswerDelayTime": integer()}),
			"agents":      array(str()), "skills": array(str()), "agentStrategy": str(),
			"communications": object(obj{"types": array(object(obj{"name": str(), "code": str(),
				"ranges": array(object(obj{"startTime": integer(), "endTime": integer(), "attempts": integer(), "priority": integer()}))}))}),
			"causes":    object(obj{"error": causes, "retry": causes, "ok": causes, "minus": causes}),
			"broadcast": object(obj{"file": str(), "extension": str(), "dialplan": str(), "context": str()}),
			"state":     obj{"type": "string", "enum": []string{"idle", "running", "stopped", "finished"}, "readOnly": true},
			"createdAt": integer(), "updatedAt": integer(),
		}, "name", "type"),
		"CampaignList": array(ref("Campaign")),
		"Calendar": object(obj{"_id": str(), "name": str(), "timezone": str(), "startDate": obj{"type": "string", "format": "date"}, "endDate": obj{"type": "string", "format": "date"},
			"week":     array(object(obj{"day": obj{"type": "integer", "minimum": 1, "maximum": 7}, "startTime": integer(), "endTime": integer()})),
			"holidays": array(object(obj{"date": obj{"type": "string", "format": "date"}, "name": str(), "repeat": boolean()}))}, "name", "timezone", "week"),
		"CalendarList": array(ref("Calendar")),
		"MemberIn": object(obj{
			"name": str(), "priority": integer(), "timezone": str(), "variables": variables,
			"expire":    obj{"oneOf": []obj{integer(), str()}, "description": "epoch milliseconds (seed 003), an RFC 3339 time, or a YYYY-MM-DD date (the end of that day, UTC)"},
			"expire_at": obj{"oneOf": []obj{integer(), str()}, "description": "seed 004's name of expire; the same forms"},
			"bucket":    object(obj{"id": str()}),
			"communications": array(object(obj{"number": str(), "destination": obj{"type": "string", "description": "seed 004's name of number"},
				"priority": integer(), "type": obj{"oneOf": []obj{str(), object(obj{"id": str()})}}, "description": str()})),
			"items": obj{"type": "array", "description": "seed 004: many members at once (then the other fields are not used)", "items": obj{"$ref": "#/components/schemas/MemberIn"}},
		}),
		"Member": object(obj{"_id": str(), "name": str(), "priority": integer(), "timezone": str(), "variables": variables,
			"communications": array(object(obj{"number": str(), "priority": integer(), "type": str(), "description": str(),
				"attempts": integer(), "lastCallAt": integer(), "lastCause": str(), "stopped": boolean()})),
			"expire": integer(), "bucket": object(obj{"id": str()}),
			"state":    obj{"type": "string", "enum": []string{"ready", "waiting", "leased", "result", "done"}},
			"attempts": integer(), "nextTryAt": integer(), "lastCallAt": integer(), "endCause": str(),
			"waitingResult": boolean(), "resultDeadline": integer(), "terminating": boolean(),
			"history": ref("MemberHistory"), "createdAt": integer(), "updatedAt": integer()}),
		"MemberList":    array(ref("Member")),
		"MemberHistory": array(object(obj{"attempt": str(), "at": integer(), "number": str(), "cause": str(), "billSec": integer(), "outcome": str()})),
		"CallResult": object(obj{"success": boolean(), "reset_retries": boolean(), "next_after_sec": integer(),
			"next_communication":  str(),
			"stop_communications": obj{"oneOf": []obj{array(str()), obj{"type": "string", "enum": []string{"all"}}}},
			"stop.communications": obj{"description": "another spelling of stop_communications", "oneOf": []obj{array(str()), obj{"type": "string", "enum": []string{"all"}}}},
			"description":         str(), "comment": obj{"type": "string", "description": "another name of description"}}),
		"InsertResult": object(obj{"result": object(obj{"ok": integer(), "n": integer()}), "ops": array(obj{}),
			"insertedCount": integer(), "insertedIds": array(str()),
			"errors": array(object(obj{"index": integer(), "line": integer(), "error": str(), "number": str(), "member": str(),
				"fields": array(object(obj{"field": str(), "message": str()}))}))}),
		"DeleteResult": object(obj{"result": object(obj{"ok": integer(), "n": integer()})}),
		"Stats": object(obj{"counters": obj{"type": "object", "additionalProperties": integer()},
			"members":     obj{"type": "object", "additionalProperties": integer()},
			"windows":     obj{"type": "object", "additionalProperties": object(obj{"Hour": integer(), "Day": integer(), "Month": integer()})},
			"abandonRate": obj{"type": "object", "additionalProperties": number()}}),
		"AgentIn": object(obj{"id": str(), "name": str(),
			"contact": obj{"type": "string", "description": "a FreeSWITCH endpoint; default user/<id>"},
			"skills":  array(str()), "buckets": array(str()),
			"reach":       obj{"type": "string", "enum": []string{"ring", "session"}, "description": "ring: each call rings the agent; session: one call stays up and members are bridged into it"},
			"auto_answer": boolean(), "call_timeout": integer(), "wrap_up_time": integer(), "max_no_answer": integer(),
			"busy_delay_time": integer(), "reject_delay_time": integer(), "no_answer_delay_time": integer(),
			"items": obj{"type": "array", "description": "many agents at once (then the other fields are not used)", "items": obj{"$ref": "#/components/schemas/AgentIn"}},
		}, "id"),
		"Agent": object(obj{"id": str(), "name": str(), "contact": str(), "skills": array(str()), "buckets": array(str()),
			"reach": str(), "auto_answer": boolean(), "call_timeout": integer(), "wrap_up_time": integer(), "max_no_answer": integer(),
			"busy_delay_time": integer(), "reject_delay_time": integer(), "no_answer_delay_time": integer(),
			"status":             obj{"type": "string", "enum": []string{"Logged Out", "Available", "Available (On Demand)", "On Break"}},
			"state":              obj{"type": "string", "enum": []string{"Waiting", "Reserved", "Offering", "In a queue call", "Wrap-up", "Idle"}},
			"reason":             obj{"type": "string", "description": "why an agent is Idle: no_answer, rejected, busy, unregistered, max_no_answer, hung_up (hung up their session)"},
			"last_status_change": integer(), "ready_time": integer(), "no_answer_count": integer(), "calls_answered": integer(),
			"talk_time": integer(), "last_bridge_start": integer(), "last_bridge_end": integer(), "last_offered_call": integer(),
			"attempt": str(), "campaign": str(),
			"session":       obj{"type": "string", "description": "reach session: the uuid of the agent's leg, while called or up"},
			"session_node":  obj{"type": "string", "description": "the FreeSWITCH node of that leg"},
			"session_state": obj{"type": "string", "enum": []string{"ringing", "up"}},
			"created_at":    integer(), "updated_at": integer()}),
		"AgentList": array(ref("Agent")),
		"Offer": object(obj{"agent": str(), "campaign": str(), "attempt": str(), "member": str(), "member_name": str(), "number": str(),
			"offered_at": integer(), "expires_at": integer(),
			"on_timeout": obj{"type": "string", "enum": []string{"skip", "dial"}, "description": "what happens when the agent does not answer by expires_at"},
			"decision":   obj{"type": "string", "enum": []string{"accept", "skip"}}, "reason": str()}),
		"CallIn": object(obj{"destination": obj{"type": "string", "description": "the number to call, routed by the calls campaign's resources"},
			"from": object(obj{"extension": obj{"type": "string", "description": "the agent: its id, or the user of its contact (1001 for user/1001)"}}, "extension"),
			"params": object(obj{"audio": obj{"type": "boolean", "description": "true or left out: every call is a voice call"},
				"auto_answer": obj{"type": "boolean", "description": "ask the agent's phone to answer by itself (sip_auto_answer)"},
				"record":      obj{"type": "boolean", "description": "record the call"},
				"variables":   obj{"type": "object", "description": "channel variables of the destination's leg, checked as a member's"}})},
			"destination", "from"),
		"DNCIn": object(obj{"numbers": obj{"type": "array", "items": obj{"type": "string"}, "description": "numbers, and prefixes ending in * (38050*)"}}, "numbers"),
		"DNCResult": object(obj{"added": integer(), "removed": integer(),
			"errors": array(object(obj{"index": integer(), "line": integer(), "error": str(), "number": str()}))}),
		"DNCList":     object(obj{"entries": array(str()), "numbers": integer(), "prefixes": integer()}),
		"DNCCheck":    object(obj{"number": str(), "listed": obj{"type": "boolean"}, "list": obj{"type": "string", "description": "global, or the campaign's id"}, "entry": str()}),
		"CallOut":     object(obj{"id": obj{"type": "string", "description": "the call's uuid: the destination leg's, the webhooks' uuid and attempt"}}),
		"OfferSkip":   object(obj{"reason": obj{"type": "string", "maxLength": 256, "description": "why (optional; the body may be empty)"}}),
		"AgentStatus": object(obj{"status": obj{"type": "string", "enum": []string{"Logged Out", "Available", "Available (On Demand)", "On Break"}}}, "status"),
		"AgentState":  object(obj{"state": obj{"type": "string", "enum": []string{"Waiting"}}}, "state"),
		"AgentStatsList": array(object(obj{"agent": str(), "calls": integer(), "missed": integer(), "bridged": integer(),
			"talk_sec": integer(), "idle_sec": integer(), "wrap_up_sec": integer(), "occupancy": number()})),
		"CallRecordList": array(object(obj{"attempt": str(), "campaign": str(), "member": str(), "number": str(), "node": str(), "gateway": str(),
			"startedAt": integer(), "answeredAt": integer(), "endedAt": integer(), "billSec": integer(), "cause": str(), "amd": str(),
			"outcome": str(), "endCause": str(), "recording": str(), "result": str()})),
	}
}
