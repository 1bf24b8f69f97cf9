package dialer

import (
	"regexp"
	"sort"
	"strings"

	"github.com/fsdialer/fsdialer/store"
)

// router routes a campaign's numbers: the first resource whose
// dialledNumber matches, then its enabled destinations by order.
type router struct {
	resources []route
}

type route struct {
	re           *regexp.Regexp
	destinations []store.Destination
}

func newRouter(c *store.Campaign) (*router, error) {
	r := &router{}
	for _, res := range c.Resources {
		re, err := regexp.Compile(res.DialledNumber)
		if err != nil {
			return nil, err
		}
		var ds []store.Destination
		for _, d := range res.Destinations {
			if d.Enabled {
				ds = append(ds, d)
			}
		}
		sort.SliceStable(ds, func(i, j int) bool { return ds[i].Order < ds[j].Order })
		r.resources = append(r.resources, route{re: re, destinations: ds})
	}
	return r, nil
}

// target is one way to dial a number: a destination and its dial string.
type target struct {
	store.Destination
	Number string // what goes after sofia/gateway/NAME/
}

// Endpoint is the originate URL of the target.
func (t target) Endpoint() string {
	return "sofia/gateway/" + t.GwName + "/" + t.Number
}

// targets lists the ways to dial number, in the order to try them; none
// when no resource matches.
func (r *router) targets(number string) []target {
	for _, res := range r.resources {
		m := res.re.FindStringSubmatchIndex(number)
		if m == nil {
			continue
		}
		out := make([]target, 0, len(res.destinations))
		for _, d := range res.destinations {
			out = append(out, target{Destination: d, Number: expandDialString(res.re, d.DialString, number, m)})
		}
		return out
	}
	return nil
}

// expandDialString fills $1, $2... with the pattern's groups. An empty dial
// string dials the number as it is; in a pattern without groups, $1 stands
// for the whole match, as the seed's example ("0$1" with no group) expects.
func expandDialString(re *regexp.Regexp, tmpl, number string, match []int) string {
	if tmpl == "" {
		return number
	}
	if re.NumSubexp() == 0 {
		tmpl = strings.ReplaceAll(tmpl, "$1", "${0}")
	}
	return string(re.ExpandString(nil, tmpl, number, match))
}
