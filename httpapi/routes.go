package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fsdialer/fsdialer/store"
)

// route is one endpoint: how it is served and how the OpenAPI document
// describes it. The same table registers the routes and writes the document.
type route struct {
	method, path string
	write        bool // needs a write token
	handler      func(a *api, c echo.Context) error
	summary      string
	body         string   // request schema name ("" none)
	response     string   // response data schema name
	query        []string // query parameters
	statuses     []int    // error statuses it can answer
}

// allRoutes is every endpoint, in the order the OpenAPI document lists them.
func allRoutes() []route { return slices.Concat(routes, agentRoutes, callRoutes, dncRoutes) }

// MaxBulkMembers is the most members one request may add.
const MaxBulkMembers = 100000

var routes = []route{
	{http.MethodPost, "/dialer", true, (*api).createCampaign, "Create a campaign (seed 003)", "Campaign", "InsertResult", nil, []int{400, 422}},
	{http.MethodGet, "/dialer", false, (*api).listCampaigns, "List campaigns", "", "CampaignList", []string{"offset", "limit", "page"}, nil},
	{http.MethodGet, "/dialer/:id", false, (*api).getCampaign, "Get a campaign", "", "Campaign", nil, []int{404}},
	{http.MethodPut, "/dialer/:id", true, (*api).updateCampaign, "Replace a campaign's settings (its state stays)", "Campaign", "Campaign", nil, []int{400, 404, 422}},
	{http.MethodDelete, "/dialer/:id", true, (*api).deleteCampaign, "Delete a stopped campaign and its members", "", "DeleteResult", nil, []int{404, 409}},
	{http.MethodPut, "/dialer/:id/state/:state", true, (*api).setState, "Run (1) or stop (0) a campaign", "", "Campaign", nil, []int{404, 422}},
	{http.MethodGet, "/dialer/:id/stats", false, (*api).stats, "Campaign statistics and abandon rates", "", "Stats", nil, []int{404}},
	{http.MethodGet, "/dialer/:id/history", false, (*api).history, "Call records, newest first", "", "CallRecordList", []string{"before", "limit"}, []int{400, 404, 422}},
	{http.MethodPost, "/dialer/:id/members", true, (*api).addMembers, "Add one member (seed 002/003) or many ({\"items\": [...]}, seed 004)", "MemberIn", "InsertResult", []string{"autoRun"}, []int{400, 404, 409, 413, 422}},
	{http.MethodPost, "/dialer/:id/members/csv", true, (*api).uploadCSV, "Add members from a CSV file (seed 002)", "CSV", "InsertResult", []string{"columns", "separator", "charset", "skipHeader", "autoRun"}, []int{400, 404, 413, 422}},
	{http.MethodGet, "/dialer/:id/members", false, (*api).listMembers, "List members, by state or all", "", "MemberList", []string{"state", "number", "offset", "limit", "cursor"}, []int{400, 404, 422}},
	{http.MethodGet, "/dialer/:id/members/:mid", false, (*api).getMember, "Get a member", "", "Member", nil, []int{404}},
	{http.MethodPut, "/dialer/:id/members/:mid", true, (*api).updateMember, "Replace a member's data (its counters stay)", "MemberIn", "Member", nil, []int{400, 404, 409, 422}},
	{http.MethodDelete, "/dialer/:id/members/:mid", true, (*api).deleteMember, "Delete a member", "", "DeleteResult", nil, []int{404}},
	{http.MethodPut, "/dialer/:id/members/:mid/status", true, (*api).memberStatus, "Post a call result (seed 002/003)", "CallResult", "Member", nil, []int{400, 404, 409, 422}},
	{http.MethodPut, "/dialer/:id/members/:mid/terminate", true, (*api).terminate, "Stop dialing a member and keep it", "", "Member", nil, []int{404, 409}},
	{http.MethodPut, "/dialer/:id/members/:mid/reset", true, (*api).resetRetries, "Clear a member's attempts", "", "Member", nil, []int{404, 409}},
	{http.MethodGet, "/dialer/:id/members/:mid/history", false, (*api).memberHistory, "A member's last attempts", "", "MemberHistory", nil, []int{404}},
	{http.MethodPost, "/calendars", true, (*api).createCalendar, "Create a calendar", "Calendar", "InsertResult", nil, []int{400, 422}},
	{http.MethodGet, "/calendars", false, (*api).listCalendars, "List calendars", "", "CalendarList", nil, nil},
	{http.MethodGet, "/calendars/:id", false, (*api).getCalendar, "Get a calendar", "", "Calendar", nil, []int{404}},
	{http.MethodPut, "/calendars/:id", true, (*api).updateCalendar, "Replace a calendar", "Calendar", "Calendar", nil, []int{400, 404, 422}},
	{http.MethodDelete, "/calendars/:id", true, (*api).deleteCalendar, "Delete a calendar no campaign uses", "", "DeleteResult", nil, []int{404, 409}},
	// Webhooks (httpapi/hooks.go): reads need a write token too, as hooks hold the CRM's credentials.
	{http.MethodPost, "/hooks", true, (*api).createHook, "Create a webhook (seed 004 section 2)", "Hook", "InsertResult", nil, []int{400, 422}},
	{http.MethodGet, "/hooks", true, (*api).listHooks, "List webhooks, oldest first (secrets never shown)", "", "HookList", nil, nil},
	{http.MethodGet, "/hooks/:id", true, (*api).getHook, "Get a webhook (its secret never shown)", "", "Hook", nil, []int{404}},
	{http.MethodPut, "/hooks/:id", true, (*api).replaceHook, "Replace a webhook (a secret left out or \"set\" stays)", "Hook", "Hook", nil, []int{400, 404, 422}},
	{http.MethodDelete, "/hooks/:id", true, (*api).deleteHook, "Delete a webhook (its undelivered events are dropped)", "", "DeleteResult", nil, []int{404}},
}

func (a *api) routes(read, write *echo.Group) {
	for _, r := range allRoutes() {
		h := func(c echo.Context) error { return r.handler(a, c) }
		g := read
		if r.write {
			g = write
		}
		g.Add(r.method, r.path, h)
	}
}

// memberOK answers a member, or the error of the call that returned it.
func memberOK(c echo.Context, m *store.Member, state string, err error) error {
	if err != nil {
		return err
	}
	return ok(c, outMember(m, state))
}

// okBody is every success response: the seed's {"status":"OK","data":...}.
type okBody struct {
	Status string `json:"status"`
	Data   any    `json:"data"`
	Total  *int64 `json:"total,omitempty"`
	Next   string `json:"next,omitempty"`
	// Ignored are parts of the request left unapplied, each saying why
	// (a call result's numbers to stop that are not the member's).
	Ignored []string `json:"ignored,omitempty"`
}

func ok(c echo.Context, data any) error {
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: data})
}

// insertResult is MongoDB's insert answer, which seed 003 shows.
type insertResult struct {
	Result struct {
		OK int `json:"ok"`
		N  int `json:"n"`
	} `json:"result"`
	Ops           []any       `json:"ops"`
	InsertedCount int         `json:"insertedCount"`
	InsertedIDs   []string    `json:"insertedIds"`
	Errors        []itemError `json:"errors,omitempty"`
}

// itemError is why one item of a bulk upload was refused.
type itemError struct {
	Index  int                `json:"index"`
	Line   int                `json:"line,omitempty"` // CSV line
	Error  string             `json:"error"`
	Fields []store.FieldError `json:"fields,omitempty"`
	Number string             `json:"number,omitempty"` // the duplicate
	Member string             `json:"member,omitempty"` // who has it
}

func newInsertResult(ids []string) *insertResult {
	r := &insertResult{Ops: []any{}, InsertedIDs: ids, InsertedCount: len(ids)}
	if r.InsertedIDs == nil {
		r.InsertedIDs = []string{}
	}
	r.Result.OK, r.Result.N = 1, len(ids)
	return r
}

func toItemError(index int, err error) itemError {
	ie := itemError{Index: index, Error: err.Error()}
	var ve *store.ValidationError
	var dup *store.DuplicateNumberError
	switch {
	case errors.As(err, &ve):
		ie.Fields = ve.Errors
	case errors.As(err, &dup):
		ie.Number, ie.Member = dup.Number, dup.Member
	}
	return ie
}

type deleteResult struct {
	Result struct {
		OK int `json:"ok"`
		N  int `json:"n"`
	} `json:"result"`
}

func deleted() *deleteResult {
	r := &deleteResult{}
	r.Result.OK, r.Result.N = 1, 1
	return r
}

// body reads the whole request body (bounded by the body limit).
func body(c echo.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request().Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, apiError(http.StatusBadRequest, "reading the body: "+err.Error())
	}
	return b, nil
}

// decodeBody reads the request body as a T: see decodeJSON.
func decodeBody[T any](c echo.Context) (T, []store.FieldError, error) {
	var v T
	b, err := body(c)
	if err != nil {
		return v, nil, err
	}
	bad, err := decodeJSON(b, &v)
	return v, bad, err
}

// intParam reads an integer query parameter within bounds.
func intParam(c echo.Context, name string, def, lo, hi int) (int, error) {
	s := c.QueryParam(name)
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		return 0, &httpError{code: http.StatusUnprocessableEntity, msg: "invalid query parameter " + name,
			fields: []store.FieldError{{Field: name, Message: fmt.Sprintf("must be a whole number from %d to %d", lo, hi)}}}
	}
	return n, nil
}

// badCursor refuses a paging cursor the API did not give: a 400, as the
// request is not one the client could have made by following next.
func badCursor(name, value string) error {
	return &httpError{code: http.StatusBadRequest, msg: "invalid query parameter " + name,
		fields: []store.FieldError{{Field: name, Message: fmt.Sprintf("%q is not a cursor of this list: leave it out for the first page, then give each page's next", clip(value, 40))}}}
}

// streamID reports whether s is a history cursor: a Redis stream id,
// milliseconds with an optional -sequence.
func streamID(s string) bool {
	ms, seq, found := strings.Cut(s, "-")
	if _, err := strconv.ParseUint(ms, 10, 64); err != nil {
		return false
	}
	if found {
		if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
			return false
		}
	}
	return true
}

func boolParam(c echo.Context, name string) (bool, error) {
	s := c.QueryParam(name)
	if s == "" {
		return false, nil
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		return false, &httpError{code: http.StatusUnprocessableEntity, msg: "invalid query parameter " + name,
			fields: []store.FieldError{{Field: name, Message: "must be true or false"}}}
	}
	return v, nil
}

// paging reads offset and limit, or page (from 1) and limit.
func paging(c echo.Context) (offset, limit int, err error) {
	if limit, err = intParam(c, "limit", 40, 1, 1000); err != nil {
		return
	}
	page, err := intParam(c, "page", 0, 1, 1<<30)
	if err != nil {
		return
	}
	if page > 0 {
		return (page - 1) * limit, limit, nil
	}
	offset, err = intParam(c, "offset", 0, 0, 1<<30)
	return
}

func (a *api) createCampaign(c echo.Context) error {
	camp, bad, err := decodeBody[store.Campaign](c)
	if err != nil {
		return err
	}
	if bad != nil {
		camp.Normalize()
		return refuse(bad, camp.Validate())
	}
	if err := a.st.CreateCampaign(c.Request().Context(), &camp, a.clock.Now()); err != nil {
		return err
	}
	return ok(c, newInsertResult([]string{camp.ID}))
}

func (a *api) listCampaigns(c echo.Context) error {
	offset, limit, err := paging(c)
	if err != nil {
		return err
	}
	list, total, err := a.st.ListCampaigns(c.Request().Context(), offset, limit)
	if err != nil {
		return err
	}
	if list == nil {
		list = []*store.Campaign{}
	}
	t := int64(total)
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: list, Total: &t})
}

func (a *api) getCampaign(c echo.Context) error {
	camp, err := a.st.GetCampaign(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, camp)
}

func (a *api) updateCampaign(c echo.Context) error {
	in, bad, err := decodeBody[store.Campaign](c)
	if err != nil {
		return err
	}
	if bad != nil {
		in.Normalize()
		return refuse(bad, in.Validate())
	}
	ctx := c.Request().Context()
	camp, err := a.st.UpdateCampaign(ctx, c.Param("id"), a.clock.Now(), func(cur *store.Campaign) error {
		state := cur.State
		*cur = in
		cur.State = state
		return nil
	})
	if err != nil {
		return err
	}
	a.eng.CampaignChanged(ctx, camp)
	return ok(c, camp)
}

func (a *api) deleteCampaign(c echo.Context) error {
	ctx := c.Request().Context()
	camp, err := a.st.GetCampaign(ctx, c.Param("id"))
	if err != nil {
		return err
	}
	if camp.State == store.StateRunning {
		return apiError(http.StatusConflict, "campaign "+camp.ID+" is running: stop it first (PUT /api/v2/dialer/"+camp.ID+"/state/0)")
	}
	if err := a.st.DeleteCampaign(ctx, camp.ID); err != nil {
		return err
	}
	return ok(c, deleted())
}

func (a *api) setState(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	var camp *store.Campaign
	var err error
	switch c.Param("state") {
	case "1":
		camp, err = a.eng.StartCampaign(ctx, id)
	case "0":
		camp, err = a.eng.StopCampaign(ctx, id)
	default:
		return &httpError{code: http.StatusUnprocessableEntity, msg: "invalid state",
			fields: []store.FieldError{{Field: "state", Message: fmt.Sprintf("%q is not 1 (run) or 0 (stop)", c.Param("state"))}}}
	}
	if err != nil {
		return err
	}
	return ok(c, camp)
}

// statsOut adds the abandon rates (abandoned / live answers) to the stats.
type statsOut struct {
	*store.Stats
	AbandonRate map[string]float64 `json:"abandonRate"`
}

func (a *api) stats(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	camp, err := a.st.GetCampaign(ctx, id)
	if err != nil {
		return err
	}
	st, err := a.st.CampaignStats(ctx, id, a.clock.Now())
	if err != nil {
		return err
	}
	return ok(c, statsOut{Stats: st, AbandonRate: st.AbandonRates(camp.FalseMachineShare())})
}

func (a *api) history(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := a.st.GetCampaign(ctx, id); err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	before := c.QueryParam("before")
	if before != "" && !streamID(before) {
		return badCursor("before", before)
	}
	recs, next, err := a.st.History(ctx, id, before, limit)
	if err != nil {
		return err
	}
	if recs == nil {
		recs = []store.CallRecord{}
	}
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: recs, Next: next})
}

// membersBody is what POST .../members takes: one member, or {"items": [...]}.
type membersBody struct {
	memberIn
	Items *[]memberIn `json:"items"`
}

func (a *api) addMembers(c echo.Context) error {
	autoRun, err := boolParam(c, "autoRun")
	if err != nil {
		return err
	}
	in, bad, err := decodeBody[membersBody](c)
	if err != nil {
		return err
	}
	ctx, id := c.Request().Context(), c.Param("id")
	for _, fe := range bad {
		if fe.Field == "items" { // meant to be a bulk upload: what one member lacks is beside the point
			return &store.ValidationError{Errors: []store.FieldError{fe}}
		}
	}
	if in.Items == nil { // one member: refused whole, with its error
		m := in.memberIn.member()
		if bad != nil {
			m.Normalize()
			return refuse(bad, in.memberIn.renamed(m.Validate()))
		}
		res, err := a.eng.AddMembers(ctx, id, []*store.Member{m}, autoRun)
		if err != nil && res == nil {
			return err
		}
		if res[0].Err != nil {
			return in.memberIn.renamed(res[0].Err)
		}
		out := newInsertResult([]string{res[0].ID})
		if err != nil { // added, but autoRun could not start the campaign
			out.Errors = []itemError{{Index: -1, Error: err.Error()}}
		}
		return ok(c, out)
	}
	items := *in.Items
	if len(items) > MaxBulkMembers {
		return apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("%d items: at most %d per request", len(items), MaxBulkMembers))
	}
	// Values of the wrong type refuse their item only; the fields beside
	// items are not used, so their types do not matter.
	wrong := itemProblems(bad)
	members := make([]*store.Member, 0, len(items))
	index := make([]int, 0, len(items))
	up := upload{rename: func(i int, err error) error { return items[i].renamed(err) }}
	for i := range items {
		m := items[i].member()
		if fields, ok := wrong[i]; ok {
			m.Normalize()
			up.refused = append(up.refused, toItemError(i, refuse(fields, items[i].renamed(m.Validate()))))
			continue
		}
		members = append(members, m)
		index = append(index, i)
	}
	if err := a.insert(ctx, id, &up, members, index, nil, autoRun); err != nil {
		return err
	}
	return ok(c, up.result())
}

// itemProblems sorts the field errors of a bulk body by item, with paths
// inside the item ("items[3].expire" is item 3's "expire").
func itemProblems(bad []store.FieldError) map[int][]store.FieldError {
	out := map[int][]store.FieldError{}
	for _, fe := range bad {
		rest, ok := strings.CutPrefix(fe.Field, "items[")
		if !ok {
			continue
		}
		n, field, ok := strings.Cut(rest, "]")
		i, err := strconv.Atoi(n)
		if !ok || err != nil {
			continue
		}
		field = strings.TrimPrefix(field, ".")
		if field == "" {
			field = "(item)"
		}
		out[i] = append(out[i], store.FieldError{Field: field, Message: fe.Message})
	}
	return out
}

// upload collects the answer of a bulk upload over its batches: the ids
// created and the items refused.
type upload struct {
	ids     []string
	refused []itemError
	// rename gives an item's errors the field names its body used (nil:
	// the store's names are right).
	rename func(index int, err error) error
}

// insert adds a batch of members; index (and lines, for CSV) name each
// member's item. A campaign that autoRun could not start is reported as an
// item of index -1: the members are added all the same.
func (a *api) insert(ctx context.Context, id string, u *upload, members []*store.Member, index, lines []int, autoRun bool) error {
	res, err := a.eng.AddMembers(ctx, id, members, autoRun)
	if err != nil && res == nil {
		return err
	}
	for i, r := range res {
		if r.Err == nil {
			u.ids = append(u.ids, r.ID)
			continue
		}
		err := r.Err
		if u.rename != nil {
			err = u.rename(index[i], err)
		}
		ie := toItemError(index[i], err)
		if lines != nil {
			ie.Line = lines[i]
		}
		u.refused = append(u.refused, ie)
	}
	if err != nil {
		u.refused = append(u.refused, itemError{Index: -1, Error: err.Error()})
	}
	return nil
}

// result is the answer, refused items in their order in the request.
func (u *upload) result() *insertResult {
	sort.SliceStable(u.refused, func(i, j int) bool { return u.refused[i].Index < u.refused[j].Index })
	out := newInsertResult(u.ids)
	out.Errors = u.refused
	return out
}

func (a *api) listMembers(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := a.st.GetCampaign(ctx, id); err != nil {
		return err
	}
	if number := c.QueryParam("number"); number != "" {
		if strings.HasPrefix(number, " ") {
			// An unescaped + in a query is a space, and a number never
			// starts with one: number=+380... as people write it.
			number = "+" + strings.TrimLeft(number, " ")
		}
		mid, err := a.st.MemberIDByNumber(ctx, id, number)
		if errors.Is(err, store.ErrNotFound) {
			zero := int64(0)
			return c.JSON(http.StatusOK, okBody{Status: "OK", Data: []memberOut{}, Total: &zero})
		}
		if err != nil {
			return err
		}
		m, st, err := a.st.GetMember(ctx, id, mid)
		if err != nil {
			return err
		}
		one := int64(1)
		return c.JSON(http.StatusOK, okBody{Status: "OK", Data: []memberOut{outMember(m, st)}, Total: &one})
	}
	offset, limit, err := paging(c)
	if err != nil {
		return err
	}
	cursor := c.QueryParam("cursor")
	page, err := a.st.ListMembers(ctx, id, c.QueryParam("state"), offset, cursor, limit)
	var ve *store.ValidationError
	if errors.As(err, &ve) && len(ve.Errors) == 1 && ve.Errors[0].Field == "cursor" {
		return badCursor("cursor", cursor)
	}
	if err != nil {
		return err
	}
	out := make([]memberOut, len(page.Members))
	for i, m := range page.Members {
		out[i] = outMember(m, page.States[i])
	}
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: out, Total: &page.Total, Next: page.Next})
}

func (a *api) getMember(c echo.Context) error {
	m, st, err := a.st.GetMember(c.Request().Context(), c.Param("id"), c.Param("mid"))
	return memberOK(c, m, st, err)
}

func (a *api) updateMember(c echo.Context) error {
	in, bad, err := decodeBody[memberIn](c)
	if err != nil {
		return err
	}
	upd := in.member()
	if bad != nil {
		upd.Normalize()
		return refuse(bad, in.renamed(upd.Validate()))
	}
	m, st, err := a.eng.UpdateMember(c.Request().Context(), c.Param("id"), c.Param("mid"), upd)
	return memberOK(c, m, st, in.renamed(err))
}

func (a *api) deleteMember(c echo.Context) error {
	if err := a.eng.DeleteMember(c.Request().Context(), c.Param("id"), c.Param("mid")); err != nil {
		return err
	}
	return ok(c, deleted())
}

func (a *api) memberStatus(c echo.Context) error {
	in, bad, err := decodeBody[resultIn](c)
	if err != nil {
		return err
	}
	res, err := in.result()
	switch {
	case bad != nil:
		return refuse(bad, err)
	case err != nil:
		return err
	}
	// The engine refuses (409) a result for a member in no call and
	// awaiting none, and one for a member that ended.
	m, st, ignored, err := a.eng.SubmitResult(c.Request().Context(), c.Param("id"), c.Param("mid"), res)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: outMember(m, st), Ignored: ignored})
}

func (a *api) terminate(c echo.Context) error {
	m, st, err := a.eng.TerminateMember(c.Request().Context(), c.Param("id"), c.Param("mid"))
	return memberOK(c, m, st, err)
}

func (a *api) resetRetries(c echo.Context) error {
	m, st, err := a.eng.ResetRetries(c.Request().Context(), c.Param("id"), c.Param("mid"))
	return memberOK(c, m, st, err)
}

func (a *api) memberHistory(c echo.Context) error {
	m, st, err := a.st.GetMember(c.Request().Context(), c.Param("id"), c.Param("mid"))
	if err != nil {
		return err
	}
	h := outMember(m, st).History
	if h == nil {
		h = []historyOut{}
	}
	return ok(c, h)
}

func (a *api) createCalendar(c echo.Context) error {
	cal, bad, err := decodeBody[store.Calendar](c)
	if err != nil {
		return err
	}
	if bad != nil {
		return refuse(bad, cal.Validate())
	}
	if err := a.st.CreateCalendar(c.Request().Context(), &cal, a.clock.Now()); err != nil {
		return err
	}
	return ok(c, newInsertResult([]string{cal.ID}))
}

func (a *api) listCalendars(c echo.Context) error {
	list, err := a.st.ListCalendars(c.Request().Context())
	if err != nil {
		return err
	}
	return ok(c, list)
}

func (a *api) getCalendar(c echo.Context) error {
	cal, err := a.st.GetCalendar(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, cal)
}

func (a *api) updateCalendar(c echo.Context) error {
	cal, bad, err := decodeBody[store.Calendar](c)
	if err != nil {
		return err
	}
	if bad != nil {
		return refuse(bad, cal.Validate())
	}
	cal.ID = c.Param("id")
	ctx := c.Request().Context()
	if err := a.st.UpdateCalendar(ctx, &cal, a.clock.Now()); err != nil {
		return err
	}
	if err := a.eng.CalendarChanged(ctx, cal.ID); err != nil {
		return err
	}
	return ok(c, cal)
}

func (a *api) deleteCalendar(c echo.Context) error {
	if err := a.st.DeleteCalendar(c.Request().Context(), c.Param("id")); err != nil {
		return err
	}
	return ok(c, deleted())
}

// rawJSON marks a schema example.
type rawJSON = json.RawMessage
