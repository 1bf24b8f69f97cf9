package dialer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/esl"
	"github.com/fsdialer/fsdialer/store"
)

// Click-to-call (seed 004, section 3): a CRM asks for a call on an agent's
// behalf. The agent's phone rings first; once they answer, the destination
// is dialed through the calls campaign's routes and bridged in (an agent
// reached by a session is already on the line: the destination is dialed
// at once). The call is an attempt of the calls campaign
// (Config.CallsCampaign) for the member holding the destination, found or
// added on the first call, so its journal and crash recovery, the agent's
// reservation and statistics, the call record and the webhooks are a
// campaign call's. That campaign dials on request only, and tries each
// request once.

// CallRequest is a click-to-call.
type CallRequest struct {
	Destination string // the number to call
	// Extension names the agent: its id, or the user part of its contact
	// (1001 for user/1001 or sofia/internal/1001@pbx).
	Extension  string
	AutoAnswer bool           // ask the agent's phone to answer by itself
	Record     bool           // record the call (as the campaign's recordSession)
	Variables  map[string]any // channel variables of the destination's leg
}

// ErrCallsUnavailable is why a click-to-call cannot be placed by this
// dialer now (no calls campaign, or it does not run here, or cannot dial);
// the error says which.
var ErrCallsUnavailable = errors.New("click-to-call unavailable")

// Call places a click-to-call and returns its id: the destination leg's
// uuid, which the call's webhooks and call record carry as uuid and
// attempt. A destination no route of the calls campaign takes, or an
// unknown extension, is a *store.ValidationError naming the field; an
// agent who cannot take a call now (in a call, wrapping up, not
// Available) or a destination already in a call is a store.ErrConflict
// naming them. Once Call returned an id the call goes on whatever happens
// to ctx.
func (e *Engine) Call(ctx context.Context, req CallRequest) (string, error) {
	number, err := store.NormalizeNumber(req.Destination)
	if err != nil {
		return "", fieldError("destination", "%v", err)
	}
	if strings.TrimSpace(req.Extension) == "" {
		return "", fieldError("from.extension", "required")
	}
	if err := store.ValidateVariables("params.variables", req.Variables); err != nil {
		return "", err
	}
	name := e.cfg.CallsCampaign
	if name == "" {
		return "", fmt.Errorf("%w: no calls campaign is configured (dialer.calls_campaign)", ErrCallsUnavailable)
	}
	var found []*runner
	e.mu.Lock()
	for _, r := range e.runners {
		if r.calls.Load() {
			found = append(found, r)
		}
	}
	e.mu.Unlock()
	switch {
	case len(found) == 0:
		return "", fmt.Errorf("%w: the calls campaign %q does not run on this dialer (is it running?)", ErrCallsUnavailable, name)
	case len(found) > 1:
		return "", fmt.Errorf("%w: %d running campaigns are named %q: rename all but one", ErrCallsUnavailable, len(found), name)
	}
	r := found[0]
	agent, err := e.agentByExtension(ctx, req.Extension)
	if err != nil {
		return "", err
	}
	answer := make(chan callAnswer, 1)
	r.post(func() { r.directCall(req, number, agent, answer) })
	select {
	case a := <-answer:
		return a.id, a.err
	case <-r.exited:
		return "", fmt.Errorf("%w: the calls campaign %s stopped", ErrCallsUnavailable, r.id)
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

type callAnswer struct {
	id  string
	err error
}

// isCalls reports whether a campaign is the calls campaign: the one whose
// id or name Config.CallsCampaign is.
func (e *Engine) isCalls(c *store.Campaign) bool {
	n := e.cfg.CallsCampaign
	return n != "" && (c.ID == n || c.Name == n)
}

func fieldError(field, format string, args ...any) error {
	return &store.ValidationError{Errors: []store.FieldError{{Field: field, Message: fmt.Sprintf(format, args...)}}}
}

// agentByExtension finds the agent whose id is ext, else the one whose
// contact's user is ext: in the view, else (an agent added since the view
// was read) in the store.
func (e *Engine) agentByExtension(ctx context.Context, ext string) (store.AgentView, error) {
	if v, ok := e.agents.get(ext); ok {
		return v, nil
	}
	found := withExtension(e.agents.all(), ext)
	if len(found) == 0 {
		all, err := e.st.ListAgents(ctx)
		if err != nil {
			return store.AgentView{}, fmt.Errorf("agent of extension %s: %w", ext, err)
		}
		for _, v := range all {
			if v.ID == ext {
				return v, nil
			}
		}
		found = withExtension(all, ext)
	}
	switch len(found) {
	case 0:
		return store.AgentView{}, fieldError("from.extension", "no agent has the id or extension %q", ext)
	case 1:
		return found[0], nil
	}
	return store.AgentView{}, fieldError("from.extension", "%d agents have the extension %q: name the agent by its id", len(found), ext)
}

func withExtension(views []store.AgentView, ext string) []store.AgentView {
	var out []store.AgentView
	for _, v := range views {
		if extensionOf(v.Contact) == ext {
			out = append(out, v)
		}
	}
	return out
}

// extensionOf is the user of a FreeSWITCH endpoint: 1001 for user/1001,
// user/1001@example.com or sofia/internal/1001@10.0.0.1.
func extensionOf(contact string) string {
	user := contact[strings.LastIndexByte(contact, '/')+1:]
	user, _, _ = strings.Cut(user, "@")
	return user
}

// directCall checks on the loop that the campaign can dial now, then
// places the call on its store worker and answers the caller.
func (r *runner) directCall(req CallRequest, number string, agent store.AgentView, answer chan<- callAnswer) {
	p := r.plan
	why := ""
	switch {
	case p == nil:
		why = "it is starting"
	case p.broken != nil:
		why = p.broken.Error()
	case !r.dialing:
		why = "it is not running"
	case r.stopping.Load():
		why = "it is stopping"
	case !r.storeOK():
		why = "Redis is failing"
	case !r.e.sw.Available():
		why = "no switch is connected"
	case r.e.adopting.Load() > 0:
		why = "the calls of a restart are being taken back"
	}
	if why != "" {
		answer <- callAnswer{err: fmt.Errorf("%w: the calls campaign %s cannot dial now: %s", ErrCallsUnavailable, r.id, why)}
		return
	}
	targets := p.router.targets(number)
	if len(targets) == 0 {
		answer <- callAnswer{err: fieldError("destination", "no resource of the calls campaign %s routes %s", r.id, number)}
		return
	}
	r.do(func(ctx context.Context) {
		res, err := r.e.placeDirect(ctx, r, p, req, number, agent, targets)
		r.post(func() {
			for _, w := range res.writes {
				r.hold(w)
			}
			for _, pl := range res.calls {
				if r.stopping.Load() {
					r.unplace(p, pl)
					err = fmt.Errorf("%w: the calls campaign %s is stopping", ErrCallsUnavailable, r.id)
					continue
				}
				r.launch(p, pl, p.camp.Parameters.RecordSession || req.Record)
			}
			if err != nil {
				answer <- callAnswer{err: err}
				return
			}
			answer <- callAnswer{id: res.calls[0].journal.ID}
		})
	})
}

// placeDirect reserves the agent, leases the member holding the
// destination (adding it the first time) and dials: the agent first, so a
// busy agent is refused before anything is written.
func (e *Engine) placeDirect(ctx context.Context, r *runner, p *plan, req CallRequest, number string, agent store.AgentView, targets []target) (placement, error) {
	var res placement
	now := e.clock.Now()
	until := now.Add(e.cfg.LeaseTTL)
	attemptID := esl.NewUUID()
	listed, err := e.st.CheckDNC(ctx, r.id, []string{number})
	if err != nil {
		return res, fmt.Errorf("click-to-call: %w", err)
	}
	if hit, ok := listed[number]; ok {
		return res, fieldError("destination", "%s is on the %s do-not-call list (%s)", number, dncListName(hit), hit.Entry)
	}
	leg, err := e.st.ReserveAgent(ctx, agent.ID, store.AgentReservation{Attempt: attemptID, Campaign: r.id, Owner: r.owner(), Until: until}, now)
	if err != nil {
		return res, fmt.Errorf("click-to-call: %w", err)
	}
	e.agents.reserved(agent.ID, attemptID, until)
	cand := &candidate{AgentView: agent, leg: leg, waited: now.Sub(readySince(agent.Live))}
	if req.AutoAnswer && !agent.AutoAnswer {
		a := *agent.Agent
		a.AutoAnswer = true
		cand.Agent = &a
	}
	cl, idx, err := e.directMember(ctx, r, p, req, number, until)
	if err != nil {
		e.releaseAgent(ctx, agent.ID, attemptID)
		if idx < 0 { // leased, but not for this number: back where it was
			res.writes = append(res.writes, putBack(p, cl, "", 0))
		}
		return res, err
	}
	m := cl.Member
	a := &store.Attempt{ID: attemptID, Campaign: r.id, Member: m.ID, Token: cl.Token, Number: m.Communications[idx].Number,
		CommIndex: idx, RangeIndex: -1, StartedAt: now.UnixMilli(), EndRecord: e.endRecords}
	e.dial(ctx, r, p, cl, m, a, choice{index: idx, rangeIdx: -1}, targets, cand, now, &res)
	switch {
	case res.err != nil:
		return res, fmt.Errorf("click-to-call: %s: %w", res.op, res.err)
	case len(res.invalid) > 0:
		return res, fieldError("params.variables", "%v", res.invalid[0].err)
	case res.blocked:
		return res, fmt.Errorf("%w: every line of the routes of %s is taken, or no switch has a line free", ErrCallsUnavailable, number)
	}
	return res, nil
}

// directMember leases the calls campaign's member holding number, added
// the first time, and makes it ready for this call: its end, a result
// awaited from its last call and the number's stop are cleared, and the
// request's variables are its own. It returns the number's index.
func (e *Engine) directMember(ctx context.Context, r *runner, p *plan, req CallRequest, number string, until time.Time) (store.Claimed, int, error) {
	id, err := e.st.MemberIDByNumber(ctx, r.id, number)
	if errors.Is(err, store.ErrNotFound) {
		m := &store.Member{Name: number, Communications: []store.Communication{{Number: number}}, Variables: req.Variables}
		res, err := e.st.InsertMembers(ctx, p.camp, []*store.Member{m}, e.clock.Now())
		var dup *store.DuplicateNumberError
		switch {
		case err != nil:
			return store.Claimed{}, 0, fmt.Errorf("click-to-call: add %s to %s: %w", number, r.id, err)
		case errors.As(res[0].Err, &dup): // added meanwhile by another click
			id = dup.Member
		case res[0].Err != nil:
			return store.Claimed{}, 0, res[0].Err
		default:
			id = res[0].ID
		}
	} else if err != nil {
		return store.Claimed{}, 0, fmt.Errorf("click-to-call: find %s in %s: %w", number, r.id, err)
	}
	cl, err := e.st.ClaimMember(ctx, r.id, id, until)
	if errors.Is(err, store.ErrConflict) {
		return cl, 0, fmt.Errorf("%w: destination %s is in a call now (member %s of %s)", store.ErrConflict, number, id, r.id)
	}
	if err != nil {
		return cl, 0, fmt.Errorf("click-to-call: %w", err)
	}
	m := cl.Member
	idx := -1
	for i, cm := range m.Communications {
		if n, err := store.NormalizeNumber(cm.Number); err == nil && n == number {
			idx = i
		}
	}
	if idx < 0 { // its numbers changed between the lookup and the claim
		return cl, idx, fmt.Errorf("%w: member %s of %s no longer has %s", store.ErrConflict, id, r.id, number)
	}
	m.EndCause, m.Terminate, m.WaitingResult, m.ResultDeadline, m.PendingResult = "", false, "", 0, nil
	m.Communications[idx].Stopped = false
	if req.Variables != nil {
		m.Variables = req.Variables
	}
	return cl, idx, nil
}

// dncListName names a do-not-call list in a message.
func dncListName(h store.DNCHit) string {
	if h.List == "" {
		return "global"
	}
	return "campaign's"
}
