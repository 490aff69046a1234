// Command shotcheck looks at a screenshot of a timeline page as a person
// would: it finds the bands of turn bars (the lanes), the takeover's
// orange and the crash's red, and fails when fewer lanes than -lanes show
// or the crash or takeover is missing. scripts/timeline-screenshot.sh runs
// it on a headless Chromium screenshot.
//
//	go run ./internal/timeline/shotcheck -lanes 3 timeline.png
package main

import (
	"flag"
	"fmt"
	"image"
	"image/color"
	_ "image/png"
	"os"
)

// The page's colours (timeline.go's style sheet).
var (
	barBlue  = color.RGBA{0x4a, 0x7b, 0xd0, 0xff}
	takeover = color.RGBA{0xd0, 0x8a, 0x2a, 0xff}
	crashRed = color.RGBA{0xc0, 0x26, 0x2d, 0xff}
)

func near(c color.Color, want color.RGBA) bool {
	r, g, b, _ := c.RGBA()
	d := func(a uint32, w uint8) int { x := int(a>>8) - int(w); return x * x }
	return d(r, want.R)+d(g, want.G)+d(b, want.B) < 30*30
}

func main() {
	lanes := flag.Int("lanes", 1, "lanes that must show")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: shotcheck [-lanes N] screenshot.png")
		os.Exit(2)
	}
	f, err := os.Open(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	img, _, err := image.Decode(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	b := img.Bounds()
	bands, inBand := 0, false
	sawTakeover, sawCrash := false, false
	for y := b.Min.Y; y < b.Max.Y; y++ {
		barRow := 0
		for x := b.Min.X; x < b.Max.X; x++ {
			c := img.At(x, y)
			switch {
			case near(c, barBlue), near(c, takeover):
				barRow++
				sawTakeover = sawTakeover || near(c, takeover)
			case near(c, crashRed):
				sawCrash = true
			}
		}
		if on := barRow >= 10; on && !inBand {
			bands++
			inBand = true
		} else if !on {
			inBand = false
		}
	}
	fmt.Printf("lanes with bars: %d, takeover shown: %v, crash shown: %v\n", bands, sawTakeover, sawCrash)
	if bands < *lanes || !sawTakeover || !sawCrash {
		fmt.Fprintf(os.Stderr, "shotcheck: want at least %d lanes, the takeover and the crash\n", *lanes)
		os.Exit(1)
	}
}
