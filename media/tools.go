package media

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"
)

// posterTimeout bounds one ffmpeg run.
const posterTimeout = 30 * time.Second

// ToolReport says which optional external tools were found.
type ToolReport struct {
	// FFmpeg is the path of ffmpeg, or "" when video posters are off.
	FFmpeg string
}

// String is a one-line summary for the start-up log.
func (t ToolReport) String() string {
	if t.FFmpeg == "" {
		return "ffmpeg not found: no video poster frames"
	}
	return "ffmpeg at " + t.FFmpeg + ": video poster frames on"
}

var (
	toolsOnce   sync.Once
	toolsReport ToolReport
)

// Tools looks for the optional tools once and reports them.
func Tools() ToolReport {
	toolsOnce.Do(func() {
		if p, err := exec.LookPath("ffmpeg"); err == nil {
			toolsReport.FFmpeg = p
		}
	})
	return toolsReport
}

// posterFrame asks ffmpeg for a frame one second in (or the first one). The
// video is written to a temporary file first: ffmpeg needs to seek, and
// the source may be a remote object.
func posterFrame(ctx context.Context, src Source) (image.Image, error) {
	ffmpeg := Tools().FFmpeg
	if ffmpeg == "" {
		return nil, fmt.Errorf("video poster: %w (ffmpeg not on PATH)", ErrNoThumbnail)
	}
	if src.Size() > 4*maxThumbSource {
		return nil, fmt.Errorf("video poster: %d bytes is over the limit", src.Size())
	}

	tmp, err := os.CreateTemp("", "arrow-mino-video-*")
	if err != nil {
		return nil, fmt.Errorf("video poster: temporary file: %w", err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	// Large pieces: each read may be a range request on a remote source.
	buf := make([]byte, 4<<20)
	// The wrapper hides os.File's ReadFrom, which would ignore buf.
	video := io.NewSectionReader(src, 0, src.Size())
	if _, err := io.CopyBuffer(struct{ io.Writer }{tmp}, video, buf); err != nil {
		return nil, fmt.Errorf("video poster: copy video: %w", err)
	}

	ctx, cancel := context.WithTimeout(ctx, posterTimeout)
	defer cancel()
	for _, seek := range []string{"1", "0"} {
		var out, stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, ffmpeg, "-nostdin", "-v", "error", "-ss", seek, "-i", tmp.Name(),
			"-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-")
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil || out.Len() == 0 {
			err = errors.Join(err, fmt.Errorf("%s", bytes.TrimSpace(stderr.Bytes())))
			if seek == "0" {
				return nil, fmt.Errorf("video poster: ffmpeg: %w", err)
			}
			continue
		}
		img, err := png.Decode(&out)
		if err != nil {
			return nil, fmt.Errorf("video poster: decode frame: %w", err)
		}
		return img, nil
	}
	return nil, errors.New("video poster: no frame")
}
