// Package redisconf turns what an operator configures — Redis URLs and TLS
// files — into go-redis options, the same way for the worker and the
// redlease command: redis:// and rediss:// URLs (go-redis's own syntax and
// query options), and for rediss:// a private CA, a client certificate for
// mutual TLS, and a server name override. Errors name the entry at fault
// and never show a password.
package redisconf
