package workflows

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// UnmarshalJSON reads LeaseOptions from JSON with each duration either as a
// Go duration string ("15s", "1h30m") or as a number of nanoseconds (what
// encoding/json writes for a time.Duration), so inputs typed by hand, such
// as `temporal workflow start --input '{"Lease":{"TTL":"15s"}}'`, work as
// well as those a Go client encodes. A string that is not a duration is an
// error naming the field.
func (o *LeaseOptions) UnmarshalJSON(b []byte) error {
	type plain LeaseOptions // the same fields, without this method
	var in struct {
		plain
		TTL              jsonDuration
		HeartbeatTimeout jsonDuration
		Wait             jsonDuration
		SectionTimeout   jsonDuration
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("workflows: lease options: %w", err)
	}
	*o = LeaseOptions(in.plain)
	o.TTL = time.Duration(in.TTL)
	o.HeartbeatTimeout = time.Duration(in.HeartbeatTimeout)
	o.Wait = time.Duration(in.Wait)
	o.SectionTimeout = time.Duration(in.SectionTimeout)
	return nil
}

// jsonDuration decodes a duration from a string or a number of nanoseconds.
type jsonDuration time.Duration

func (d *jsonDuration) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*d = 0
		return nil
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%q is not a duration (write e.g. \"15s\" or \"1h30m\", or nanoseconds as a number)", s)
		}
		*d = jsonDuration(v)
		return nil
	}
	var ns int64
	if err := json.Unmarshal(b, &ns); err != nil {
		return fmt.Errorf("%s is not a duration: use a string such as \"15s\" or whole nanoseconds", b)
	}
	*d = jsonDuration(ns)
	return nil
}
