package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// printer writes tables for people (colours only on a terminal, and not
// with NO_COLOR) or JSON for scripts.
type printer struct {
	w     io.Writer
	json  bool
	color bool
}

func newPrinter(w io.Writer, output string, getenv func(string) string) *printer {
	p := &printer{w: w, json: output == "json"}
	if f, ok := w.(*os.File); ok && getenv("NO_COLOR") == "" && getenv("TERM") != "dumb" {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.color = true
		}
	}
	return p
}

// JSON writes v indented.
func (p *printer) JSON(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// table writes aligned rows; the first is the header.
func (p *printer) table(rows [][]string) {
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
}

// paint colours a state word on a terminal.
func (p *printer) paint(state string) string {
	if !p.color {
		return state
	}
	code := map[string]string{"held": "33", "free": "32", "tombstone": "36", "down": "31", "guarded": "35", "new": "35", "unsafe": "31", "unknown": "31", "ok": "32", "warn": "33"}[state]
	if code == "" {
		return state
	}
	return "\x1b[" + code + "m" + state + "\x1b[0m"
}

// dur shows a duration for people: ms precision, "-" for none, "no expiry"
// for -1.
func dur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < 0:
		return "no expiry"
	}
	return d.Round(time.Millisecond).String()
}

func msDur(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
