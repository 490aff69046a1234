package redisconf

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ParseURLs parses a comma-separated list of Redis URLs (see ParseURL).
// Errors name the entry by position and never show a password.
func ParseURLs(list string) ([]*redis.Options, error) {
	parts := strings.Split(list, ",")
	opts := make([]*redis.Options, 0, len(parts))
	for i, part := range parts {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("URL %d of %d is empty", i+1, len(parts))
		}
		o, err := ParseURL(part)
		if err != nil {
			return nil, fmt.Errorf("URL %d of %d: %w", i+1, len(parts), err)
		}
		opts = append(opts, o)
	}
	return opts, nil
}

// ParseURL parses redis://[user:password@]host[:port][/db][?option=value]
// or the same with rediss:// (TLS, verified against the system's roots
// unless TLS.Apply says otherwise) through redis.ParseURL, which also
// takes go-redis's query options (dial_timeout, pool_size, ...). The
// client it describes has ContextTimeoutEnabled, so the lease package's
// node timeout also gives up the connection's request.
func ParseURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err // url.Error repeats the raw URL, password included
		}
		return nil, fmt.Errorf("not a URL: %v", err)
	}
	shown := u.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%s: scheme %q is not redis:// or rediss://", shown, u.Scheme)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", shown, redactPassword(err.Error(), u))
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}

// redactPassword removes u's password from msg.
func redactPassword(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}
