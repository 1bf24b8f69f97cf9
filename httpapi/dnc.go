package httpapi

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/fsdialer/fsdialer/store"
)

// dncRoutes are the do-not-call lists: the global one at /dnc, a
// campaign's at /dialer/{id}/dnc, alike. An entry is a number, or a
// prefix ending in * (38050*).
var dncRoutes = func() []route {
	var out []route
	for _, scope := range []struct{ path, whose string }{{"/dnc", "the global"}, {"/dialer/:id/dnc", "a campaign's"}} {
		out = append(out,
			route{http.MethodPost, scope.path, true, (*api).addDNC, "Add numbers and prefixes (38050*) to " + scope.whose + " do-not-call list", "DNCIn", "DNCResult", nil, []int{400, 404, 413, 422}},
			route{http.MethodPost, scope.path + "/csv", true, (*api).uploadDNC, "Add a CSV file's numbers to " + scope.whose + " do-not-call list (the number column, or the one named in columns)", "CSV", "DNCResult", []string{"columns", "separator", "charset", "skipHeader"}, []int{400, 404, 413, 422}},
			route{http.MethodGet, scope.path, false, (*api).listDNC, "List " + scope.whose + " do-not-call list, prefixes first", "", "DNCList", []string{"cursor", "limit"}, []int{400, 404, 422}},
			route{http.MethodGet, scope.path + "/:number", false, (*api).checkDNC, "Whether a number may be called (a campaign's answer counts the global list too)", "", "DNCCheck", nil, []int{404, 422}},
			route{http.MethodDelete, scope.path + "/:number", true, (*api).removeDNC, "Take a number or prefix off " + scope.whose + " do-not-call list", "", "DNCResult", nil, []int{404, 422}},
		)
	}
	return out
}()

// dncScope is the list a request names: "" the global one, else the
// campaign's, which must exist.
func (a *api) dncScope(c echo.Context) (string, error) {
	id := c.Param("id")
	if id == "" {
		return "", nil
	}
	if _, err := a.st.GetCampaign(c.Request().Context(), id); err != nil {
		return "", err
	}
	return id, nil
}

type dncIn struct {
	Numbers []string `json:"numbers"`
}

type dncResult struct {
	Added   *int        `json:"added,omitempty"`   // entries not listed before
	Removed *int        `json:"removed,omitempty"` // entries that were listed
	Errors  []itemError `json:"errors,omitempty"`  // CSV lines refused
}

func (a *api) addDNC(c echo.Context) error {
	scope, err := a.dncScope(c)
	if err != nil {
		return err
	}
	in, bad, err := decodeBody[dncIn](c)
	switch {
	case err != nil:
		return err
	case len(bad) > 0:
		return refuse(bad, nil)
	case len(in.Numbers) == 0:
		return refuse([]store.FieldError{{Field: "numbers", Message: "required: a list of numbers and prefixes (38050*)"}}, nil)
	}
	n, err := a.st.AddDNC(c.Request().Context(), scope, in.Numbers)
	if err != nil {
		return err
	}
	return ok(c, dncResult{Added: &n})
}

// uploadDNC streams a CSV file onto a list: its number columns (the
// header's, or the columns parameter's, as for members) give the
// entries; a line that is not a number is refused by line, the others
// are added.
func (a *api) uploadDNC(c echo.Context) error {
	scope, err := a.dncScope(c)
	if err != nil {
		return err
	}
	f, err := openCSV(c)
	if err != nil {
		return err
	}
	defer f.Close()
	ctx := c.Request().Context()
	added := 0
	var refused []itemError
	var batch []string
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		n, err := a.st.AddDNC(ctx, scope, batch)
		added += n
		batch = batch[:0]
		return err
	}
	columns := c.QueryParam("columns")
	err = scanCSV(f.text, f.sep, columns, f.skipHeader, f.mustBeUTF8, func(item, line, _ int, m *store.Member, err error) error {
		var ce *csvError
		switch {
		case errors.As(err, &ce):
			refused = append(refused, itemError{Index: item, Line: line, Error: ce.msg})
			return nil
		case err != nil:
			refused = append(refused, itemError{Index: item, Line: line, Error: err.Error()})
			return nil
		}
		for _, cm := range m.Communications {
			if _, _, err := store.NormalizeDNC(cm.Number); err != nil {
				refused = append(refused, itemError{Index: item, Line: line, Error: err.Error(), Number: cm.Number})
				return nil
			}
		}
		for _, cm := range m.Communications {
			batch = append(batch, cm.Number)
		}
		if len(batch) >= csvBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return err
	}
	return ok(c, dncResult{Added: &added, Errors: refused})
}

type dncList struct {
	Entries  []string `json:"entries"`
	Numbers  int64    `json:"numbers"`  // on the whole list
	Prefixes int64    `json:"prefixes"` // on the whole list
}

func (a *api) listDNC(c echo.Context) error {
	scope, err := a.dncScope(c)
	if err != nil {
		return err
	}
	limit, err := intParam(c, "limit", 1000, 1, 10000)
	if err != nil {
		return err
	}
	ctx := c.Request().Context()
	page, err := a.st.ListDNC(ctx, scope, c.QueryParam("cursor"), limit)
	if errors.Is(err, store.ErrInvalid) {
		return invalidParam("cursor", err.Error())
	}
	if err != nil {
		return err
	}
	numbers, prefixes, err := a.st.DNCCount(ctx, scope)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, okBody{Status: "OK", Data: dncList{Entries: page.Entries, Numbers: numbers, Prefixes: prefixes}, Next: page.Next})
}

type dncCheck struct {
	Number string `json:"number"`
	Listed bool   `json:"listed"`
	List   string `json:"list,omitempty"`  // "global", or the campaign's id
	Entry  string `json:"entry,omitempty"` // the number or prefix that lists it
}

func (a *api) checkDNC(c echo.Context) error {
	scope, err := a.dncScope(c)
	if err != nil {
		return err
	}
	number := c.Param("number")
	if _, prefix, err := store.NormalizeDNC(number); err != nil || prefix {
		return refuse([]store.FieldError{{Field: "number", Message: fmt.Sprintf("%q is not a phone number", number)}}, nil)
	}
	hits, err := a.st.CheckDNC(c.Request().Context(), scope, []string{number})
	if err != nil {
		return err
	}
	out := dncCheck{Number: number}
	if h, ok := hits[number]; ok {
		out.Listed, out.List, out.Entry = true, h.List, h.Entry
		if out.List == "" {
			out.List = "global"
		}
	}
	return ok(c, out)
}

func (a *api) removeDNC(c echo.Context) error {
	scope, err := a.dncScope(c)
	if err != nil {
		return err
	}
	n, err := a.st.RemoveDNC(c.Request().Context(), scope, []string{c.Param("number")})
	var ve *store.ValidationError
	if errors.As(err, &ve) {
		return refuse([]store.FieldError{{Field: "number", Message: ve.Errors[0].Message}}, nil)
	}
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("%w: %s is not on the list", store.ErrNotFound, c.Param("number"))
	}
	return ok(c, dncResult{Removed: &n})
}
