// Command chaos runs the fault suite's lease workload (internal/chaos) and
// prints the per-fault table that RELIABILITY.md holds. make chaos runs
// the long profile; -seed replays a run, -break runs a broken build.
//
//	go run ./internal/chaos/cmd/chaos -profile long -rounds 5
//	go run ./internal/chaos/cmd/chaos -profile bounded -seed 20261127
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/redlease/redlease/internal/chaos"
)

func main() {
	profile := flag.String("profile", "long", "bounded (about 75 s) or long (about 7 min per round)")
	seed := flag.Uint64("seed", 0, "the nemesis seed; 0 picks one from the clock (printed)")
	rounds := flag.Int("rounds", 5, "long profile: rounds of every fault kind")
	faults := flag.String("faults", "", "comma-separated fault kinds (default all): "+strings.Join(chaos.AllFaults, ", "))
	brk := flag.String("break", "", "run a deliberately broken build: guard or fence")
	dir := flag.String("dir", "", "where histories, schedule and visualizations go (default a new temporary directory)")
	flag.Parse()
	if *seed == 0 {
		*seed = uint64(time.Now().UnixNano())
	}
	var p chaos.Profile
	switch *profile {
	case "bounded":
		p = chaos.Bounded(*seed)
	case "long":
		p = chaos.Long(*seed, *rounds)
	default:
		log.Fatalf("-profile %q: want bounded or long", *profile)
	}
	if *faults != "" {
		p.Faults = strings.Split(*faults, ",")
	}
	if *brk != "" {
		p.Break, p.Name = *brk, p.Name+"-broken-"+*brk
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "redlease-chaos-")
		if err != nil {
			log.Fatal(err)
		}
		*dir = d
	}
	p.Dir = *dir
	p.Logf = log.Printf
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	bin, err := chaos.BuildClient(ctx, p.Dir)
	if err != nil {
		log.Fatal(err)
	}
	p.Client = bin
	rep, err := chaos.Run(ctx, p)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Print(rep.String())
	fmt.Printf("histories, schedule and summary: %s\n", p.Dir)
	if !rep.OK() {
		os.Exit(1)
	}
}
