// Package timeline draws who held a resource when: a self-contained HTML
// page with one SVG lane per holder, a bar per turn (its fencing token and
// steps), the time each holder waited, the crash and the takeover. The
// demo writes one; open it in any browser, nothing is fetched.
package timeline

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"slices"
	"time"
)

// Turn is one run of writes by one holder with one token.
type Turn struct {
	Holder   string
	Token    int64
	From, To time.Time
	First    int // first and last step written
	Last     int
	Takeover bool // a retried attempt that took the lease over after a crash
}

// Crash is a worker killed while a holder ran.
type Crash struct {
	At     time.Time
	Holder string // whose section it was running
	Worker string
	Token  int64 // the dead attempt's token
}

// Timeline is what Render draws.
type Timeline struct {
	Resource string
	Start    time.Time // time zero: when the holders were started
	End      time.Time // the right edge (zero: the last turn's end)
	// Waiting is when each holder started waiting for the resource (its
	// workflow started); the lane shows the wait up to its first turn.
	Waiting map[string]time.Time
	Turns   []Turn
	Crashes []Crash
}

// geometry of the drawing, in SVG units.
const (
	laneHeight = 44
	labelWidth = 170
	plotWidth  = 900
	top        = 40
)

type bar struct {
	X, Y, W      float64
	LabelX       float64 // inside the bar, or after it when it is too narrow
	Outside      bool
	Holder       string
	Token        int64
	Label, Title string
	Takeover     bool
}

type wait struct{ X1, X2, Y float64 }

type mark struct {
	X, Y, Y2 float64
	Label    string
}

type lane struct {
	Y      float64
	Holder string
}

type tick struct {
	X     float64
	Label string
}

type page struct {
	Resource       string
	Width, Height  int
	PlotX, PlotEnd float64
	AxisY          float64
	Lanes          []lane
	Bars           []bar
	Waits          []wait
	Marks          []mark
	Ticks          []tick
	Summary        string
}

// Render writes tl as a self-contained HTML page.
func Render(w io.Writer, tl Timeline) error {
	if len(tl.Turns) == 0 {
		return fmt.Errorf("timeline: no turns to draw")
	}
	if tl.Start.IsZero() {
		return fmt.Errorf("timeline: no start time")
	}
	end := tl.End
	for _, t := range tl.Turns {
		if t.To.After(end) {
			end = t.To
		}
	}
	for _, c := range tl.Crashes {
		if c.At.After(end) {
			end = c.At
		}
	}
	span := end.Sub(tl.Start)
	if span <= 0 {
		span = time.Second
	}
	if span > 24*time.Hour {
		return fmt.Errorf("timeline: %v from start to end, more than a day", span)
	}
	x := func(t time.Time) float64 {
		return labelWidth + math.Max(0, float64(t.Sub(tl.Start)))/float64(span)*plotWidth
	}
	// Lanes in the order holders first held the resource.
	var holders []string
	for _, t := range tl.Turns {
		if !slices.Contains(holders, t.Holder) {
			holders = append(holders, t.Holder)
		}
	}
	laneY := map[string]float64{}
	p := page{Resource: tl.Resource, PlotX: labelWidth, PlotEnd: labelWidth + plotWidth}
	for i, h := range holders {
		laneY[h] = top + float64(i)*laneHeight
		p.Lanes = append(p.Lanes, lane{Y: laneY[h], Holder: h})
	}
	for _, t := range tl.Turns {
		b := bar{X: x(t.From), Y: laneY[t.Holder], W: math.Max(3, x(t.To)-x(t.From)), Holder: t.Holder, Token: t.Token, Takeover: t.Takeover,
			Label: fmt.Sprintf("token %d", t.Token),
			Title: fmt.Sprintf("%s: token %d, steps %d–%d, %.2fs–%.2fs", t.Holder, t.Token, t.First, t.Last, t.From.Sub(tl.Start).Seconds(), t.To.Sub(tl.Start).Seconds())}
		if t.Takeover {
			b.Label += " (takeover)"
		}
		b.LabelX = b.X
		if b.W < float64(len(b.Label))*6.5+8 { // too narrow for its label: put it after the bar
			b.LabelX, b.Outside = b.X+b.W, true
		}
		p.Bars = append(p.Bars, b)
	}
	for _, h := range holders {
		since, ok := tl.Waiting[h]
		if !ok {
			continue
		}
		first := end
		for _, t := range tl.Turns {
			if t.Holder == h && t.From.Before(first) {
				first = t.From
			}
		}
		if first.After(since) {
			p.Waits = append(p.Waits, wait{X1: x(since), X2: x(first), Y: laneY[h] + laneHeight/2 - 6})
		}
	}
	for _, c := range tl.Crashes {
		y, ok := laneY[c.Holder]
		if !ok {
			y = top
		}
		p.Marks = append(p.Marks, mark{X: x(c.At), Y: y - 4, Y2: y + laneHeight - 8, Label: fmt.Sprintf("%s killed (token %d)", c.Worker, c.Token)})
	}
	step := niceStep(span)
	for d := time.Duration(0); d <= span; d += step {
		p.Ticks = append(p.Ticks, tick{X: x(tl.Start.Add(d)), Label: fmt.Sprintf("%gs", d.Seconds())})
	}
	p.AxisY = top + float64(len(holders))*laneHeight + 6
	p.Width = labelWidth + plotWidth + 30
	p.Height = int(p.AxisY) + 40
	p.Summary = fmt.Sprintf("%d holders, %d turns, %d crash(es), %.1fs", len(holders), len(tl.Turns), len(tl.Crashes), span.Seconds())
	return pageTemplate.Execute(w, p)
}

// niceStep is a tick interval that gives at most about a dozen ticks.
func niceStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second, time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour} {
		if span/s <= 12 {
			return s
		}
	}
	return 2 * time.Hour
}

var pageTemplate = template.Must(template.New("timeline").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Who held {{.Resource}}</title>
<style>
body { font: 14px system-ui, sans-serif; margin: 24px; color: #222; }
.lane-label { font-size: 12px; }
.bar { fill: #4a7bd0; } .bar.takeover { fill: #d08a2a; }
.bar-label { font-size: 11px; fill: #fff; } .bar-label.outside { fill: #222; }
.wait { stroke: #999; stroke-dasharray: 4 3; stroke-width: 2; }
.crash { stroke: #c0262d; stroke-width: 3; } .crash-label { fill: #c0262d; font-size: 12px; font-weight: bold; }
.axis { stroke: #444; } .tick { font-size: 11px; fill: #444; }
</style></head><body>
<h1>Who held {{.Resource}}</h1>
<p>One lane per holder; a bar is a turn (its fencing token; hover for steps and times), a dashed line the wait before it; the red mark is the crash, the orange bar the takeover. {{.Summary}}.</p>
<svg id="timeline" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}">
{{range .Lanes}}<g class="lane" data-holder="{{.Holder}}"><text class="lane-label" x="4" y="{{.Y}}" dy="22">{{.Holder}}</text><line class="axis" x1="{{$.PlotX}}" x2="{{$.PlotEnd}}" y1="{{.Y}}" y2="{{.Y}}" stroke-opacity="0.15"/></g>
{{end}}{{range .Waits}}<line class="wait" x1="{{.X1}}" x2="{{.X2}}" y1="{{.Y}}" y2="{{.Y}}"><title>waiting</title></line>
{{end}}{{range .Bars}}<g class="turn" data-holder="{{.Holder}}" data-token="{{.Token}}"><rect class="bar{{if .Takeover}} takeover{{end}}" x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="28" rx="3"><title>{{.Title}}</title></rect><text class="bar-label{{if .Outside}} outside{{end}}" x="{{.LabelX}}" y="{{.Y}}" dx="4" dy="18">{{.Label}}</text></g>
{{end}}{{range .Marks}}<g class="crash-mark"><line class="crash" x1="{{.X}}" x2="{{.X}}" y1="{{.Y}}" y2="{{.Y2}}"/><text class="crash-label" x="{{.X}}" y="{{.Y}}" dx="6" dy="-2">✕ {{.Label}}</text></g>
{{end}}<line class="axis" x1="{{.PlotX}}" x2="{{.PlotEnd}}" y1="{{.AxisY}}" y2="{{.AxisY}}"/>
{{range .Ticks}}<text class="tick" x="{{.X}}" y="{{$.AxisY}}" dy="16" text-anchor="middle">{{.Label}}</text>
{{end}}</svg>
</body></html>
`))
