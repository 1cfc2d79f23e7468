package qr

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/makiuchi-d/gozxing"
	gozxingqr "github.com/makiuchi-d/gozxing/qrcode"
)

func decode(t *testing.T, img image.Image) string {
	t.Helper()
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gozxingqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		t.Fatalf("the code does not decode: %v", err)
	}
	return res.GetText()
}

// textImage paints a text code back into pixels, as a camera would see it
// on a terminal: ink is light when light is true.
func textImage(t *testing.T, text string, inkIsLight bool) image.Image {
	t.Helper()
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	const scale = 6
	w := utf8.RuneCountInString(lines[0])
	img := image.NewGray(image.Rect(0, 0, w*scale, len(lines)*2*scale))
	ink, paper := color.Gray{0}, color.Gray{255}
	if inkIsLight {
		ink, paper = paper, ink
	}
	for y, line := range lines {
		for x, r := range []rune(line) {
			top := r == '█' || r == '▀'
			bottom := r == '█' || r == '▄'
			for dy := 0; dy < 2*scale; dy++ {
				on := top
				if dy >= scale {
					on = bottom
				}
				for dx := 0; dx < scale; dx++ {
					c := paper
					if on {
						c = ink
					}
					img.SetGray(x*scale+dx, y*2*scale+dy, c)
				}
			}
		}
	}
	return img
}

func TestTextScansOnBothBackgrounds(t *testing.T) {
	const url = "http://192.168.1.20:3000/pair/IIBt6HYQIA3I2txiwKVfFw"
	for _, invert := range []bool{false, true} {
		text, err := Text(url, invert)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
		if w := utf8.RuneCountInString(lines[0]); w > MaxTextWidth {
			t.Fatalf("%d columns", w)
		}
		// Default: light modules are ink, read as light-on-dark.
		if got := decode(t, textImage(t, text, !invert)); got != url {
			t.Fatalf("invert=%v decodes to %q", invert, got)
		}
	}
}

func TestLongURLsFitOrFail(t *testing.T) {
	long := "https://observable.internal.example-corporation.com/pair/" + strings.Repeat("A", 22)
	text, err := Text(long, false)
	if err != nil {
		t.Fatal(err)
	}
	if w := utf8.RuneCountInString(strings.SplitN(text, "\n", 2)[0]); w > MaxTextWidth {
		t.Fatalf("%d columns", w)
	}
	if _, err := Text("https://x.example/"+strings.Repeat("a", 2000), false); err == nil || !strings.Contains(err.Error(), "modules wide") {
		t.Fatalf("a URL too long for a terminal: %v", err)
	}
}

func TestPNGAndSVG(t *testing.T) {
	const url = "https://obs.example.com/pair/abc"
	raw, err := PNG(url, 256)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := decode(t, img); got != url {
		t.Fatalf("png decodes to %q", got)
	}
	svg, err := SVG(url)
	if err != nil || !bytes.HasPrefix(svg, []byte("<svg")) || !bytes.Contains(svg, []byte(`<path fill="#000" d="M`)) {
		t.Fatalf("svg: %v %.80s", err, svg)
	}
}

// TestPNGSizeIsBounded: drawing costs the square of the size, so the
// sizes are bounded here too, not only by the API.
func TestPNGSizeIsBounded(t *testing.T) {
	const url = "http://192.168.1.20:3000/pair/abc"
	for _, size := range []int{MinPNGSize - 1, MaxPNGSize + 1, 2048} {
		if _, err := PNG(url, size); err == nil {
			t.Errorf("PNG(size %d) drew an image; want an error", size)
		}
	}
	for _, size := range []int{MinPNGSize, MaxPNGSize} {
		if _, err := PNG(url, size); err != nil {
			t.Errorf("PNG(size %d): %v", size, err)
		}
	}
}
