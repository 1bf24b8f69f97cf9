package main

import (
	"encoding/csv"
	"fmt"
	"html"
	"io"
	"math"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/fsdialer/fsdialer/dialer/pacing/shiftsim"
)

var header = []string{"scenario", "policy", "occupancy %", "abandon %", "worst 1h %", "worst 24h %",
	"wait mean s", "wait p95 s", "in 2 s %", "calls/agent-h", "score", "ratio"}

// cells are a result's columns as the table and the CSV show them.
func cells(r shiftsim.Result) []string {
	f := func(x float64, prec int) string { return strconv.FormatFloat(x, 'f', prec, 64) }
	ratio := ""
	if r.Ratio > 0 {
		ratio = f(r.Ratio, 2)
	}
	return []string{r.Scenario, r.Policy, f(100*r.Occupancy, 1), f(r.AbandonRate, 2), f(r.WorstHour, 2), f(r.WorstDay, 2),
		f(r.WaitMean, 1), f(r.WaitP95, 1), f(100*r.ConnectedInTime, 1), f(r.CallsPerAgentHour, 1), f(r.Score, 2), ratio}
}

func writeTable(w io.Writer, results []shiftsim.Result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	last := ""
	for _, r := range results {
		c := cells(r)
		if r.Scenario == last {
			c[0] = ""
		}
		last = r.Scenario
		fmt.Fprintln(tw, strings.Join(c, "\t")+"\t")
	}
	tw.Flush()
}

func writeMarkdown(w io.Writer, results []shiftsim.Result) {
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, strings.Repeat("|---", len(header))+"|")
	last := ""
	for _, r := range results {
		c := cells(r)
		if r.Scenario == last {
			c[0] = ""
		}
		last = r.Scenario
		fmt.Fprintln(w, "| "+strings.Join(c, " | ")+" |")
	}
}

func writeCSV(w io.Writer, results []shiftsim.Result) error {
	cw := csv.NewWriter(w)
	head := append(append([]string(nil), header...), "attempts", "live", "abandoned", "bridged", "agent hours")
	if err := cw.Write(head); err != nil {
		return err
	}
	for _, r := range results {
		row := append(cells(r), strconv.FormatInt(r.Attempts, 10), strconv.FormatInt(r.Live, 10),
			strconv.FormatInt(r.Abandoned, 10), strconv.FormatInt(r.Bridged, 10), strconv.FormatFloat(r.AgentHours, 'f', 1, 64))
		if err := cw.Write(row); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// The plot: a panel per scenario, occupancy (y, 0-100 %) against the
// run's abandon rate (x, 0 to 6 %; beyond it at the right edge, marked),
// the target and the ceiling as vertical lines, a colour per policy.
const (
	panelW, panelH = 300, 210
	plotL, plotT   = 40, 34 // the plot area's offset in a panel
	plotW, plotH   = 245, 140
	columns        = 4
	xMax           = 6.0 // percent
)

var colours = []string{"#7f7f7f", "#d62728", "#1f77b4", "#17becf", "#ff7f0e", "#bcbd22", "#9467bd", "#2ca02c", "#8c564b", "#e377c2"}

func writeSVG(w io.Writer, scenarios []shiftsim.Scenario, results []shiftsim.Result) {
	var policies []string
	seen := map[string]bool{}
	for _, r := range results {
		if !seen[r.Policy] {
			seen[r.Policy] = true
			policies = append(policies, r.Policy)
		}
	}
	colour := map[string]string{}
	for i, p := range policies {
		colour[p] = colours[i%len(colours)]
	}
	rows := (len(scenarios) + columns - 1) / columns
	legendH := 30
	width, height := columns*panelW, rows*panelH+legendH
	fmt.Fprintf(w, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="10">`+"\n", width, height, width, height)
	fmt.Fprintf(w, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	for i, p := range policies {
		x := 10 + i*(width-20)/len(policies)
		fmt.Fprintf(w, `<circle cx="%d" cy="15" r="4" fill="%s"/><text x="%d" y="19">%s</text>`+"\n", x, colour[p], x+8, html.EscapeString(p))
	}
	for i, sc := range scenarios {
		ox, oy := (i%columns)*panelW, legendH+(i/columns)*panelH
		fmt.Fprintf(w, `<g transform="translate(%d,%d)">`+"\n", ox, oy)
		fmt.Fprintf(w, `<text x="%d" y="14" font-weight="bold">%s</text>`+"\n", plotL-30, html.EscapeString(sc.Name))
		fmt.Fprintf(w, `<rect x="%d" y="%d" width="%d" height="%d" fill="none" stroke="#999"/>`+"\n", plotL, plotT, plotW, plotH)
		px := func(rate float64) float64 { return plotL + plotW*math.Min(rate, xMax)/xMax }
		py := func(occ float64) float64 { return plotT + plotH*(1-occ) }
		for _, y := range []float64{0, 0.25, 0.5, 0.75, 1} {
			fmt.Fprintf(w, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#eee"/><text x="%d" y="%.1f" text-anchor="end">%.0f</text>`+"\n",
				plotL, plotL+plotW, py(y), py(y), plotL-3, py(y)+3, 100*y)
		}
		for x := 0.0; x <= xMax; x++ {
			fmt.Fprintf(w, `<text x="%.1f" y="%d" text-anchor="middle">%.0f</text>`+"\n", px(x), plotT+plotH+12, x)
		}
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#d62728" stroke-dasharray="3,3"/>`+"\n", px(sc.Target), px(sc.Target), plotT, plotT+plotH)
		fmt.Fprintf(w, `<line x1="%.1f" x2="%.1f" y1="%d" y2="%d" stroke="#d62728"/>`+"\n", px(sc.Max), px(sc.Max), plotT, plotT+plotH)
		fmt.Fprintf(w, `<text x="%d" y="%d" text-anchor="middle">abandon %% of live answers (occupancy %% up)</text>`+"\n", plotL+plotW/2, plotT+plotH+24)
		for _, r := range results {
			if r.Scenario != sc.Name {
				continue
			}
			x, y := px(r.AbandonRate), py(r.Occupancy)
			title := fmt.Sprintf("%s: occupancy %.1f %%, abandon %.2f %%", r.Policy, 100*r.Occupancy, r.AbandonRate)
			if r.AbandonRate > xMax {
				fmt.Fprintf(w, `<path d="M%.1f %.1f l-7 -4 v8 z" fill="%s"><title>%s</title></path>`+"\n", x, y, colour[r.Policy], html.EscapeString(title))
				continue
			}
			fmt.Fprintf(w, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s" fill-opacity="0.85"><title>%s</title></circle>`+"\n", x, y, colour[r.Policy], html.EscapeString(title))
		}
		fmt.Fprintln(w, `</g>`)
	}
	fmt.Fprintln(w, `</svg>`)
}
