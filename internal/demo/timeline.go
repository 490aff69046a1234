package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/redlease/redlease/internal/timeline"
	"github.com/redlease/redlease/samples/fencedstore"
)

// writeTimeline draws the run — who held the resource when, the waits,
// the crash, the takeover — into dir/timeline.html and returns its path.
func writeTimeline(dir string, started time.Time, ids []string, entries []fencedstore.Entry, c crash) (string, error) {
	tl := timeline.Timeline{Resource: resource, Start: started, Waiting: map[string]time.Time{}}
	for _, id := range ids {
		tl.Waiting[id] = started // every job was started at once and waited for its turn
	}
	for _, t := range turns(entries) {
		tl.Turns = append(tl.Turns, timeline.Turn{Holder: t.holder, Token: t.token, From: t.from, To: t.to, First: t.first, Last: t.end,
			Takeover: t.holder == c.workflow && t.token > c.token})
	}
	if !c.at.IsZero() {
		tl.Crashes = []timeline.Crash{{At: c.at, Holder: c.workflow, Worker: c.worker, Token: c.token}}
	}
	path := filepath.Join(dir, "timeline.html")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	if err := timeline.Render(f, tl); err != nil {
		f.Close()
		return "", err
	}
	return path, f.Close()
}
