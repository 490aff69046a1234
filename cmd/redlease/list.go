package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// runList prints the resources with a lock on some node, with their
// verdicts.
func runList(ctx context.Context, cfg config, p *printer, prefix string, max int) error {
	lc, _, closeAll, err := cfg.client()
	if err != nil {
		return err
	}
	defer closeAll()
	listing, err := lc.List(ctx, prefix, max)
	if err != nil {
		return err
	}
	type item struct {
		Resource string `json:"resource"`
		Verdict  string `json:"verdict"`
		Holder   string `json:"holder,omitempty"`
		OwnerID  string `json:"ownerId,omitempty"`
		ValidMS  int64  `json:"validForMs,omitempty"`
		Token    int64  `json:"highestToken"`
	}
	items := []item{}
	for _, r := range listing.Resources {
		st, err := lc.Inspect(ctx, r)
		if err != nil {
			return err
		}
		it := item{Resource: r, Verdict: verdict(st), Token: st.Token}
		if st.Held {
			it.Holder, it.OwnerID, it.ValidMS = st.Holder, st.OwnerID, msOrNoExpiry(st.ValidFor)
		}
		items = append(items, it)
	}
	var failed []string
	for _, ne := range listing.Failed {
		failed = append(failed, ne.Error())
	}
	if p.json {
		return p.JSON(struct {
			Resources []item   `json:"resources"`
			Truncated bool     `json:"truncated"`
			Failed    []string `json:"failedNodes,omitempty"`
		}{items, listing.Truncated, failed})
	}
	rows := [][]string{{"RESOURCE", "STATE", "HOLDER", "OWNER", "VALID", "TOKEN"}}
	for _, it := range items {
		holder := it.Holder
		if holder == "" && it.Verdict == "held" {
			holder = "(anonymous)"
		}
		rows = append(rows, []string{it.Resource, p.paint(it.Verdict), holder, it.OwnerID, dur(msDur(it.ValidMS)), strconv.FormatInt(it.Token, 10)})
	}
	p.table(rows)
	if listing.Truncated {
		fmt.Fprintf(p.w, "(more than %d: narrow with -prefix or raise -max)\n", max)
	}
	if len(failed) > 0 {
		fmt.Fprintf(p.w, "nodes that did not answer (their resources are missing): %s\n", strings.Join(failed, "; "))
	}
	return nil
}
