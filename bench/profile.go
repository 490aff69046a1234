package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile to path until the returned function
// is called. Read it with: go tool pprof -top <binary or nothing> path
func startCPUProfile(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("cpu profile: %w", err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: cpu profile:", err)
		}
	}, nil
}

// writeHeapProfile writes the live heap (after a GC) to path.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		fmt.Fprintln(os.Stderr, "bench: heap profile:", err)
	}
}

// setPeerLabel tags the calling goroutine, and the goroutines it starts,
// with the peer it measures, so a CPU profile can be split by peer:
// go tool pprof -tagfocus=peer=redlease -top cpu.out
func setPeerLabel(ctx context.Context, peer string) {
	pprof.SetGoroutineLabels(pprof.WithLabels(ctx, pprof.Labels("peer", peer)))
}
