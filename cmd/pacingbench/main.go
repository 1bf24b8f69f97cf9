// Command pacingbench runs the pacing benchmark (issue 13, make
// bench-pacing): every scenario of a scenario file with every pacing
// policy on the same random draws, in virtual time, and prints per
// scenario and policy the occupancy, the abandon rates, the agents' wait,
// the live answers connected in time, the calls per agent-hour and the
// score against progressive and the clairvoyant bound:
//
//	pacingbench -scenarios deploy/pacing-scenarios.json -csv pacing.csv -svg docs/pacing.svg
//
// The simulation is dialer/pacing/shiftsim's; the policies are
// dialer/pacing's.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/fsdialer/fsdialer/dialer/pacing/shiftsim"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "pacingbench:", err)
		}
		os.Exit(2)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("pacingbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("scenarios", "deploy/pacing-scenarios.json", "the scenario file (JSON)")
	only := fs.String("run", "", "only the scenarios whose name matches this regular expression")
	policies := fs.String("policies", "", "comma-separated policies (default all; progressive and clairvoyant always run, for the score)")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "runs at once")
	csvPath := fs.String("csv", "", "also write the results as CSV to this file")
	svgPath := fs.String("svg", "", "also write a plot of occupancy against abandon rate per scenario (SVG) to this file")
	markdown := fs.Bool("markdown", false, "print the table as Markdown")
	if err := fs.Parse(args); err != nil {
		return err
	}
	data, err := os.ReadFile(*path)
	if err != nil {
		return err
	}
	scenarios, err := shiftsim.Parse(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			return fmt.Errorf("-run: %w", err)
		}
		var keep []shiftsim.Scenario
		for _, sc := range scenarios {
			if re.MatchString(sc.Name) {
				keep = append(keep, sc)
			}
		}
		if len(keep) == 0 {
			return fmt.Errorf("-run %q: no scenario matches", *only)
		}
		scenarios = keep
	}
	var names []string
	if *policies != "" {
		names = strings.Split(*policies, ",")
	}
	start := time.Now()
	results, err := shiftsim.Bench(scenarios, names, *workers)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)
	if *markdown {
		writeMarkdown(stdout, results)
	} else {
		writeTable(stdout, results)
	}
	fmt.Fprintf(stdout, "\n%d scenarios, %d runs in %.1f s on %d workers\n", len(scenarios), len(results), elapsed.Seconds(), *workers)
	if *csvPath != "" {
		var b bytes.Buffer
		if err := writeCSV(&b, results); err != nil {
			return err
		}
		if err := os.WriteFile(*csvPath, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	if *svgPath != "" {
		var b bytes.Buffer
		writeSVG(&b, scenarios, results)
		if err := os.WriteFile(*svgPath, b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
