package main

import (
	"net/url"
	"strings"
)

// workflowRef is a Temporal holder decoded: the holder id of a workflow's
// lease is namespace/workflowID/runID/leaseName, each part with '%', '#'
// and '/' escaped (activities.HolderID).
type workflowRef struct {
	Namespace  string `json:"namespace"`
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
	Lease      string `json:"lease"`
	URL        string `json:"url,omitempty"` // the run in the web UI, when its address is known
}

// temporalHolder decodes holder as a Temporal workflow's, if it is one;
// ui is the web UI's base URL ("" for no link).
func temporalHolder(holder, ui string) *workflowRef {
	parts := strings.Split(holder, "/")
	if len(parts) != 4 {
		return nil
	}
	unescape := strings.NewReplacer("%2F", "/", "%23", "#", "%25", "%")
	for i, p := range parts {
		if p == "" {
			return nil
		}
		parts[i] = unescape.Replace(p)
	}
	ref := &workflowRef{Namespace: parts[0], WorkflowID: parts[1], RunID: parts[2], Lease: parts[3]}
	if ui != "" {
		ref.URL = ui + "/namespaces/" + url.PathEscape(ref.Namespace) + "/workflows/" + url.PathEscape(ref.WorkflowID) + "/" + url.PathEscape(ref.RunID) + "/history"
	}
	return ref
}
