package main

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// table is a titled grid printed as an aligned Markdown table, so the
// output can be pasted into BENCHMARKS.md as it is.
type table struct {
	title  string
	header []string
	rows   [][]string
	notes  []string
}

func newTable(title string, header ...string) *table {
	return &table{title: title, header: header}
}

// row adds a row; float64 cells print with no decimals.
func (t *table) row(cells ...any) {
	r := make([]string, len(cells))
	for i, c := range cells {
		switch v := c.(type) {
		case string:
			r[i] = v
		case float64:
			r[i] = fmt.Sprintf("%.0f", v)
		default:
			r[i] = fmt.Sprint(v)
		}
	}
	t.rows = append(t.rows, r)
}

func (t *table) note(format string, args ...any) {
	t.notes = append(t.notes, fmt.Sprintf(format, args...))
}

// print writes the table: first column left-aligned, the others right-aligned.
func (t *table) print(w io.Writer) {
	width := make([]int, len(t.header))
	for _, r := range append([][]string{t.header}, t.rows...) {
		for i, c := range r {
			width[i] = max(width[i], utf8.RuneCountInString(c), 3)
		}
	}
	line := func(cells []string, sep bool) {
		var b strings.Builder
		b.WriteString("|")
		for i := range width {
			c := ""
			if i < len(cells) {
				c = cells[i]
			}
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			switch {
			case sep && i == 0:
				c = ":" + strings.Repeat("-", width[i]-1)
				pad = ""
			case sep:
				c = strings.Repeat("-", width[i]-1) + ":"
				pad = ""
			case i == 0:
				c += pad
				pad = ""
			}
			fmt.Fprintf(&b, " %s%s |", pad, c)
		}
		fmt.Fprintln(w, b.String())
	}
	fmt.Fprintf(w, "\n### %s\n\n", t.title)
	line(t.header, false)
	line(nil, true)
	for _, r := range t.rows {
		line(r, false)
	}
	if len(t.notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, n := range t.notes {
		fmt.Fprintf(w, "%s\n", n)
	}
}
