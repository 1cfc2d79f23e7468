// Package qr draws pairing URLs as QR codes for a terminal (text), a page
// (SVG) or an image (PNG). Encoding is github.com/skip2/go-qrcode's.
package qr

import (
	"bytes"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"
)

// MaxTextWidth is the widest text code drawn: an 80-column terminal.
const MaxTextWidth = 80

// quiet is the quiet zone the standard asks for, in modules.
const quiet = 4

// bitmap encodes content with medium error correction, or low when medium
// would not fit a terminal; true is a dark module; the quiet zone included.
func bitmap(content string) ([][]bool, error) {
	var last error
	for _, level := range []qrcode.RecoveryLevel{qrcode.Medium, qrcode.Low} {
		q, err := qrcode.New(content, level)
		if err != nil {
			last = err
			continue
		}
		q.DisableBorder = true
		core := q.Bitmap()
		if len(core)+2*quiet <= MaxTextWidth {
			return withQuietZone(core), nil
		}
		last = fmt.Errorf("a %d-character URL needs a code %d modules wide; the limit is %d", len(content), len(core)+2*quiet, MaxTextWidth)
	}
	return nil, fmt.Errorf("encode QR code: %w", last)
}

func withQuietZone(core [][]bool) [][]bool {
	n := len(core) + 2*quiet
	out := make([][]bool, n)
	for y := range out {
		out[y] = make([]bool, n)
		if y >= quiet && y < n-quiet {
			copy(out[y][quiet:], core[y-quiet])
		}
	}
	return out
}

// Text draws the code with Unicode half blocks, two module rows per line.
// By default light modules are ink, which reads right as light-on-dark (the
// usual terminal); invert inks the dark modules, for dark-on-light.
func Text(content string, invert bool) (string, error) {
	bm, err := bitmap(content)
	if err != nil {
		return "", err
	}
	ink := func(y, x int) bool {
		if y >= len(bm) {
			return !invert // a light row past the end
		}
		return bm[y][x] == invert
	}
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top, bottom := ink(y, x), ink(y+1, x)
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteByte(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// SVG draws the code as a scalable image, one path for the dark modules.
func SVG(content string) ([]byte, error) {
	bm, err := bitmap(content)
	if err != nil {
		return nil, err
	}
	var path strings.Builder
	for y, row := range bm {
		for x := 0; x < len(row); x++ {
			if !row[x] {
				continue
			}
			start := x
			for x < len(row) && row[x] {
				x++
			}
			fmt.Fprintf(&path, "M%d %dh%dv1h-%dz", start, y, x-start, x-start)
		}
	}
	var b bytes.Buffer
	n := len(bm)
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" shape-rendering="crispEdges" role="img" aria-label="QR code">`, n, n)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#fff"/><path fill="#000" d="%s"/></svg>`, n, n, path.String())
	return b.Bytes(), nil
}

// The sizes PNG draws. Past 1024 pixels a code is no easier to scan, and
// the drawing's cost grows with the square of the size.
const (
	MinPNGSize = 64
	MaxPNGSize = 1024
)

// PNG draws the code as a PNG image about size pixels wide, from
// MinPNGSize to MaxPNGSize.
func PNG(content string, size int) ([]byte, error) {
	if size < MinPNGSize || size > MaxPNGSize {
		return nil, fmt.Errorf("a PNG code is %d to %d pixels wide, not %d", MinPNGSize, MaxPNGSize, size)
	}
	if _, err := bitmap(content); err != nil {
		return nil, err
	}
	png, err := qrcode.Encode(content, qrcode.Medium, size)
	if err != nil {
		return nil, fmt.Errorf("encode QR code: %w", err)
	}
	return png, nil
}
