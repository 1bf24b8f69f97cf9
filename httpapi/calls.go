package httpapi

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fsdialer/fsdialer/dialer"
	"github.com/fsdialer/fsdialer/store"
)

// callRoutes is click-to-call (seed 004, section 3). Webitel serves it at
// /api/calls, which New also routes here.
var callRoutes = []route{
	{http.MethodPost, "/calls", true, (*api).createCall, "Click-to-call (seed 004 section 3): ring the agent, then dial the destination and bridge it in", "CallIn", "CallOut", nil, []int{400, 409, 422, 503}},
}

// bareResponses are answered as they are, outside the seed's
// {"status":"OK","data":...}: click-to-call answers {"id": ...} as
// Webitel's CreateCall does.
var bareResponses = map[string]bool{"CallOut": true}

// callIn is the seed's body of an outgoing call.
type callIn struct {
	Destination string `json:"destination"`
	From        struct {
		Extension string `json:"extension"`
	} `json:"from"`
	Params struct {
		Audio      *bool          `json:"audio"` // a voice call: the only kind there is
		AutoAnswer bool           `json:"auto_answer"`
		Record     bool           `json:"record"`
		Variables  map[string]any `json:"variables"`
	} `json:"params"`
}

// callOut answers a placed call with its id, as Webitel's CreateCall does.
type callOut struct {
	ID string `json:"id"`
}

func (a *api) createCall(c echo.Context) error {
	in, bad, err := decodeBody[callIn](c)
	switch {
	case err != nil:
		return err
	case in.Params.Audio != nil && !*in.Params.Audio:
		bad = append(bad, store.FieldError{Field: "params.audio", Message: "only audio calls are placed: leave it out or true"})
	}
	if in.Destination == "" && !covered(bad, "destination") {
		bad = append(bad, store.FieldError{Field: "destination", Message: "required"})
	}
	if in.From.Extension == "" && !covered(bad, "from.extension") {
		bad = append(bad, store.FieldError{Field: "from.extension", Message: "required"})
	}
	if len(bad) > 0 {
		return refuse(bad, store.ValidateVariables("params.variables", in.Params.Variables))
	}
	id, err := a.eng.Call(c.Request().Context(), dialer.CallRequest{Destination: in.Destination, Extension: in.From.Extension,
		AutoAnswer: in.Params.AutoAnswer, Record: in.Params.Record, Variables: in.Params.Variables})
	if errors.Is(err, dialer.ErrCallsUnavailable) {
		return apiError(http.StatusServiceUnavailable, err.Error())
	}
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, callOut{ID: id})
}
