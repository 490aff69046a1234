package timeline

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"
	"testing"
	"time"
)

// svgNode is any SVG element, decoded loosely.
type svgNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []svgNode  `xml:",any"`
}

func (n svgNode) attr(name string) string {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value
		}
	}
	return ""
}

// all returns the nodes under n (n included) for which keep is true.
func (n svgNode) all(keep func(svgNode) bool) []svgNode {
	var out []svgNode
	if keep(n) {
		out = append(out, n)
	}
	for _, c := range n.Children {
		out = append(out, c.all(keep)...)
	}
	return out
}

func class(c string) func(svgNode) bool {
	return func(n svgNode) bool { return strings.Contains(" "+n.attr("class")+" ", " "+c+" ") }
}

// parse renders tl and decodes its SVG.
func parse(t *testing.T, tl Timeline) (string, svgNode) {
	t.Helper()
	var b bytes.Buffer
	if err := Render(&b, tl); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	from, to := strings.Index(page, "<svg"), strings.Index(page, "</svg>")
	if from < 0 || to < 0 {
		t.Fatalf("no svg in the page:\n%s", page)
	}
	var root svgNode
	if err := xml.Unmarshal([]byte(page[from:to+len("</svg>")]), &root); err != nil {
		t.Fatalf("the SVG does not parse: %v", err)
	}
	return page, root
}

// The demo's story: three holders in turn, a crash in the first one's
// turn and its takeover after the others waited.
func TestRenderDrawsLanesTurnsWaitsAndTheCrash(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tl := Timeline{
		Resource: "printer-7",
		Start:    t0,
		Waiting:  map[string]time.Time{"job-1": at(0), "job-2": at(0), "job-<3>": at(0.1)},
		Turns: []Turn{
			{Holder: "job-1", Token: 100, From: at(0.2), To: at(2), First: 0, Last: 12},
			{Holder: "job-1", Token: 105, From: at(5), To: at(6), First: 12, Last: 19, Takeover: true},
			{Holder: "job-2", Token: 110, From: at(6.1), To: at(9), First: 0, Last: 19},
			{Holder: "job-<3>", Token: 120, From: at(9.1), To: at(12), First: 0, Last: 19},
		},
		Crashes: []Crash{{At: at(2.1), Holder: "job-1", Worker: "worker-1", Token: 100}},
	}
	page, svg := parse(t, tl)
	if svg.XMLName.Local != "svg" {
		t.Fatalf("root %v", svg.XMLName)
	}
	lanes := svg.all(class("lane"))
	if len(lanes) != 3 || lanes[0].attr("data-holder") != "job-1" || lanes[2].attr("data-holder") != "job-<3>" {
		t.Fatalf("lanes %v", lanes)
	}
	turns := svg.all(class("turn"))
	if len(turns) != 4 {
		t.Fatalf("%d turns, want 4", len(turns))
	}
	takeovers := svg.all(class("takeover"))
	if len(takeovers) != 1 || !strings.Contains(takeovers[0].Children[0].Text, "token 105, steps 12–19") {
		t.Fatalf("takeover bars %v", takeovers)
	}
	if marks := svg.all(class("crash-mark")); len(marks) != 1 || !strings.Contains(marks[0].Children[1].Text, "worker-1 killed (token 100)") {
		t.Fatalf("crash marks %v", marks)
	}
	// job-2 waited from 0 to 6.1 s; job-<3> from 0.1 to 9.1 s; job-1 only 0.2 s.
	if waits := svg.all(class("wait")); len(waits) != 3 {
		t.Fatalf("%d waits, want 3", len(waits))
	}
	// Bars sit in their holder's lane, in time order left to right.
	x := func(n svgNode) float64 {
		v, err := strconv.ParseFloat(n.Children[0].attr("x"), 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if !(x(turns[0]) < x(turns[1])) || turns[2].Children[0].attr("y") == turns[0].Children[0].attr("y") {
		t.Fatalf("bars misplaced: %v", turns)
	}
	if strings.Contains(page, "job-<3>") || !strings.Contains(page, "job-&lt;3&gt;") {
		t.Fatal("a holder name is not escaped")
	}
	if strings.Contains(page, "http://") && strings.Contains(page, "src=") {
		t.Fatal("the page fetches something")
	}
	if err := Render(&bytes.Buffer{}, Timeline{Resource: "r", Start: t0}); err == nil {
		t.Fatal("an empty timeline rendered")
	}
	// No start, or one so far back the span is absurd: refused, not looped on.
	if err := Render(&bytes.Buffer{}, Timeline{Resource: "r", Turns: tl.Turns}); err == nil {
		t.Fatal("a timeline without a start rendered")
	}
	if err := Render(&bytes.Buffer{}, Timeline{Resource: "r", Start: t0.Add(-48 * time.Hour), Turns: tl.Turns}); err == nil {
		t.Fatal("a two-day timeline rendered")
	}
	// A crash after the last turn widens the drawing instead of leaving it.
	late := tl
	late.Crashes = []Crash{{At: at(20), Holder: "job-2", Worker: "w", Token: 1}}
	_, svg2 := parse(t, late)
	mark := svg2.all(class("crash-mark"))[0].Children[0]
	width, _ := strconv.ParseFloat(svg2.attr("width"), 64)
	if mx, _ := strconv.ParseFloat(mark.attr("x1"), 64); mx > width {
		t.Fatalf("a late crash drawn at %v, beyond the width %v", mx, width)
	}
}
