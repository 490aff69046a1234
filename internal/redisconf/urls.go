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
	for i, part := range parts {
		parts[i] = strings.TrimSpace(part)
		switch {
		case parts[i] == "":
			return nil, fmt.Errorf("URL %d of %d is empty", i+1, len(parts))
		case !strings.Contains(parts[i], "://"):
			// Likely the tail of a password with a ',' in it, which also cut
			// the URL before it: show nothing of either.
			return nil, fmt.Errorf("URL %d of %d has no scheme (a ',' in a password must be written %%2C)", i+1, len(parts))
		}
	}
	opts := make([]*redis.Options, 0, len(parts))
	for i, part := range parts {
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
// takes go-redis's query options (dial_timeout, pool_size, ...; but
// skip_verify=true, which turns verification off, is refused).
// Errors never show a user name or password. The
// client it describes has ContextTimeoutEnabled, so the lease package's
// node timeout also gives up the connection's request.
func ParseURL(raw string) (*redis.Options, error) {
	shown := redactedURL(raw)
	// With credentials in the URL, no parser message is shown: a password
	// with '/', '?', '#' or '@' not percent-encoded ends the authority
	// early, and the message would quote a piece of it.
	credentials := strings.Contains(raw, "@")
	u, err := url.Parse(raw)
	if err != nil {
		if credentials {
			return nil, fmt.Errorf("%s: not a valid URL (percent-encode '/', '?', '#', '@' and ',' in a user name or password)", shown)
		}
		var urlErr *url.Error
		if errors.As(err, &urlErr) {
			err = urlErr.Err
		}
		return nil, fmt.Errorf("%s: not a URL: %v", shown, err)
	}
	if credentials && u.User == nil {
		return nil, fmt.Errorf("%s: the user information did not parse (percent-encode '/', '?', '#', '@' and ',' in a user name or password)", shown)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%s: scheme %q is not redis:// or rediss://", shown, u.Scheme)
	}
	o, err := redis.ParseURL(raw)
	if err != nil {
		// The user information parsed: go-redis's message quotes other
		// parts (a database, an option); the password is cut out anyway.
		return nil, fmt.Errorf("%s: %s", shown, redactPassword(err.Error(), u))
	}
	if o.TLSConfig != nil && o.TLSConfig.InsecureSkipVerify {
		return nil, fmt.Errorf("%s: skip_verify=true turns off the verification of the node's certificate; use -redis-tls-ca for a private CA instead", shown)
	}
	o.ContextTimeoutEnabled = true
	return o, nil
}

// redactedURL shows raw without what could be a credential: the scheme,
// then "xxxxx@" and what follows the last '@' when there is one.
func redactedURL(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "(a URL without a scheme)"
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "xxxxx@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// redactPassword removes u's password from msg.
func redactPassword(msg string, u *url.URL) string {
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}
