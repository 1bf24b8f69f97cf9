package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/fsdialer/fsdialer/store"
)

// The agent endpoints are those of the engine whose v2 API the seeds
// document (/api/v2/callcenter/agent), so a CRM written for it works; the
// document carries its field names.
var agentRoutes = []route{
	{http.MethodGet, "/callcenter/agent", false, (*api).listAgents, "List agents (filters: status, state, campaign, skill)", "", "AgentList", []string{"status", "state", "campaign", "skill", "offset", "limit"}, []int{404, 422}},
	{http.MethodGet, "/callcenter/agent/:id", false, (*api).getAgent, "Get an agent", "", "Agent", nil, []int{404}},
	{http.MethodPost, "/callcenter/agent", true, (*api).createAgents, "Create an agent, or many ({\"items\": [...]})", "AgentIn", "InsertResult", nil, []int{400, 409, 413, 422}},
	{http.MethodPut, "/callcenter/agent/:id", true, (*api).putAgent, "Create or replace an agent (its status, state and counters stay)", "AgentIn", "Agent", nil, []int{400, 422}},
	{http.MethodDelete, "/callcenter/agent/:id", true, (*api).deleteAgent, "Delete an agent no call holds", "", "DeleteResult", nil, []int{404, 409}},
	{http.MethodPost, "/callcenter/agent/:id/status", true, (*api).agentStatus, "Set an agent's status", "AgentStatus", "Agent", nil, []int{400, 404, 422}},
	{http.MethodPost, "/callcenter/agent/:id/state", true, (*api).agentState, "End an agent's wrap-up or delay now (state Waiting)", "AgentState", "Agent", nil, []int{400, 404, 409, 422}},
	{http.MethodGet, "/dialer/:id/agents/stats", false, (*api).campaignAgentStats, "Per-agent statistics of a campaign", "", "AgentStatsList", nil, []int{404}},
	{http.MethodGet, "/callcenter/agent/:id/offer", false, (*api).getOffer, "The member offered to an agent now (preview dialing)", "", "Offer", nil, []int{404}},
	{http.MethodPost, "/callcenter/agent/:id/offer/accept", true, (*api).acceptOffer, "Accept the offer: the call is placed, the agent's phone first", "", "Offer", nil, []int{404, 409}},
	{http.MethodPost, "/callcenter/agent/:id/offer/skip", true, (*api).skipOffer, "Skip the offer: the member goes back, no attempt counted", "OfferSkip", "Offer", nil, []int{400, 404, 409, 422}},
}

// agentOut is an agent as the API shows it.
type agentOut struct {
	*store.Agent
	*store.AgentLive
}

func (a *api) agentOut(ag *store.Agent, l *store.AgentLive) agentOut {
	shown := *l
	shown.State = l.Shown(a.clock.Now())
	return agentOut{Agent: ag, AgentLive: &shown}
}

// maxBulkAgents is the most agents one request may load.
const maxBulkAgents = 10000

func (a *api) createAgents(c echo.Context) error {
	in, bad, err := decodeBody[agentsBody](c)
	switch {
	case bad != nil:
		return refuse(bad, err)
	case err != nil:
		return err
	}
	ctx, now := c.Request().Context(), a.clock.Now()
	if in.Items == nil {
		if _, _, err := a.st.GetAgent(ctx, in.ID); err == nil {
			return fmt.Errorf("agent %s: %w: it exists; PUT replaces it", in.ID, store.ErrConflict)
		}
		if _, err := a.st.PutAgent(ctx, &in.Agent, now); err != nil {
			return err
		}
		return ok(c, newInsertResult([]string{in.ID}))
	}
	if len(in.Items) > maxBulkAgents {
		return apiError(http.StatusRequestEntityTooLarge, fmt.Sprintf("%d agents in one request, at most %d", len(in.Items), maxBulkAgents))
	}
	var ids []string
	var refused []itemError
	for i := range in.Items {
		ag := in.Items[i]
		if _, err := a.st.PutAgent(ctx, &ag, now); err != nil {
			if !errors.Is(err, store.ErrInvalid) {
				return err // the store failed: the agents before it are loaded (a PUT of each is safe to repeat)
			}
			refused = append(refused, toItemError(i, err))
			continue
		}
		ids = append(ids, ag.ID)
	}
	res := newInsertResult(ids)
	res.Errors = refused
	return ok(c, res)
}

// agentsBody is one agent, or many under items.
type agentsBody struct {
	store.Agent
	Items []store.Agent `json:"items"`
}

func (a *api) putAgent(c echo.Context) error {
	in, bad, err := decodeBody[store.Agent](c)
	switch {
	case bad != nil:
		return refuse(bad, err)
	case err != nil:
		return err
	}
	id := c.Param("id")
	if in.ID != "" && in.ID != id {
		return &store.ValidationError{Errors: []store.FieldError{{Field: "id", Message: fmt.Sprintf("%q differs from the path's %q", in.ID, id)}}}
	}
	in.ID = id
	ctx := c.Request().Context()
	if _, err := a.st.PutAgent(ctx, &in, a.clock.Now()); err != nil {
		return err
	}
	return a.answerAgent(c, id)
}

func (a *api) answerAgent(c echo.Context, id string) error {
	ag, l, err := a.st.GetAgent(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return ok(c, a.agentOut(ag, l))
}

func (a *api) getAgent(c echo.Context) error { return a.answerAgent(c, c.Param("id")) }

func (a *api) getOffer(c echo.Context) error {
	o, err := a.eng.Offer(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return ok(c, o)
}

func (a *api) acceptOffer(c echo.Context) error { return a.answerOffer(c, store.PreviewAccept, "") }

// answerOffer passes an agent's answer to their offer on.
func (a *api) answerOffer(c echo.Context, decision, reason string) error {
	o, err := a.eng.AnswerOffer(c.Request().Context(), c.Param("id"), decision, reason)
	if err != nil {
		return err
	}
	return ok(c, o)
}

// maxSkipReason bounds the reason an agent gives for a skip.
const maxSkipReason = 256

func (a *api) skipOffer(c echo.Context) error {
	var reason string
	if c.Request().ContentLength != 0 { // the body is optional
		in, bad, err := decodeBody[struct {
			Reason string `json:"reason"`
		}](c)
		switch {
		case bad != nil:
			return refuse(bad, err)
		case err != nil:
			return err
		case len(in.Reason) > maxSkipReason || strings.ContainsAny(in.Reason, "\r\n\x00"):
			return &store.ValidationError{Errors: []store.FieldError{{Field: "reason", Message: fmt.Sprintf("must be one line of at most %d bytes", maxSkipReason)}}}
		}
		reason = in.Reason
	}
	return a.answerOffer(c, store.PreviewSkip, reason)
}

func (a *api) deleteAgent(c echo.Context) error {
	if err := a.st.DeleteAgent(c.Request().Context(), c.Param("id"), a.clock.Now()); err != nil {
		return err
	}
	return ok(c, deleted())
}

func (a *api) agentStatus(c echo.Context) error {
	in, bad, err := decodeBody[struct {
		Status *string `json:"status"`
	}](c)
	switch {
	case bad != nil:
		return refuse(bad, err)
	case err != nil:
		return err
	case in.Status == nil:
		return &store.ValidationError{Errors: []store.FieldError{{Field: "status", Message: "is required"}}}
	}
	id := c.Param("id")
	if err := a.st.SetAgentStatus(c.Request().Context(), id, *in.Status, a.clock.Now()); err != nil {
		return err
	}
	return a.answerAgent(c, id)
}

func (a *api) agentState(c echo.Context) error {
	in, bad, err := decodeBody[struct {
		State *string `json:"state"`
	}](c)
	switch {
	case bad != nil:
		return refuse(bad, err)
	case err != nil:
		return err
	case in.State == nil:
		return &store.ValidationError{Errors: []store.FieldError{{Field: "state", Message: "is required"}}}
	case *in.State != store.AgentWaiting:
		return &store.ValidationError{Errors: []store.FieldError{{Field: "state", Message: fmt.Sprintf(
			"%q cannot be set: the engine derives the state from the calls; %q ends a wrap-up or a delay now", *in.State, store.AgentWaiting)}}}
	}
	id := c.Param("id")
	if err := a.st.AgentReady(c.Request().Context(), id, a.clock.Now()); err != nil {
		return err
	}
	return a.answerAgent(c, id)
}

func (a *api) listAgents(c echo.Context) error {
	ctx := c.Request().Context()
	offset, limit, err := paging(c)
	if err != nil {
		return err
	}
	status, state, skill := c.QueryParam("status"), c.QueryParam("state"), c.QueryParam("skill")
	var camp *store.Campaign
	if id := c.QueryParam("campaign"); id != "" {
		if camp, err = a.st.GetCampaign(ctx, id); err != nil {
			return err
		}
	}
	all, err := a.st.ListAgents(ctx)
	if err != nil {
		return err
	}
	out := make([]agentOut, 0, len(all))
	for _, v := range all {
		o := a.agentOut(v.Agent, v.Live)
		switch {
		case status != "" && o.Status != status,
			state != "" && o.AgentLive.State != state,
			skill != "" && !slices.Contains(v.Skills, skill),
			camp != nil && !camp.ServedBy(v.Agent):
			continue
		}
		out = append(out, o)
	}
	total := int64(len(out))
	out = out[min(offset, len(out)):min(offset+limit, len(out))]
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: out, Total: &total})
}

// agentStats is one agent's statistics in a campaign.
type agentStats struct {
	Agent     string  `json:"agent"`
	Calls     int64   `json:"calls"`  // offered
	Missed    int64   `json:"missed"` // not answered, rejected or busy
	Bridged   int64   `json:"bridged"`
	TalkSec   int64   `json:"talk_sec"`
	IdleSec   int64   `json:"idle_sec"`    // waiting for this campaign's calls
	WrapUpSec int64   `json:"wrap_up_sec"` // after them
	Occupancy float64 `json:"occupancy"`   // (talk + wrap-up) / (talk + wrap-up + idle)
}

func (a *api) campaignAgentStats(c echo.Context) error {
	ctx, id := c.Request().Context(), c.Param("id")
	if _, err := a.st.GetCampaign(ctx, id); err != nil {
		return err
	}
	st, err := a.st.CampaignStats(ctx, id, a.clock.Now())
	if err != nil {
		return err
	}
	by := map[string]*agentStats{}
	for field, n := range st.Counters {
		rest, isAgent := strings.CutPrefix(field, store.AgentStatPrefix)
		if !isAgent {
			continue
		}
		agent, what, found := strings.Cut(rest, ":")
		if !found {
			continue
		}
		s := by[agent]
		if s == nil {
			s = &agentStats{Agent: agent}
			by[agent] = s
		}
		switch what {
		case "calls":
			s.Calls = n
		case "missed":
			s.Missed = n
		case "bridged":
			s.Bridged = n
		case "talk":
			s.TalkSec = n
		case "idle":
			s.IdleSec = n
		case "wrap":
			s.WrapUpSec = n
		}
	}
	out := make([]*agentStats, 0, len(by))
	for _, s := range by {
		if busy := s.TalkSec + s.WrapUpSec; busy+s.IdleSec > 0 {
			s.Occupancy, _ = strconv.ParseFloat(strconv.FormatFloat(float64(busy)/float64(busy+s.IdleSec), 'f', 4, 64), 64)
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return ok(c, out)
}
