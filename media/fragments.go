package media

import "errors"

// Fragmented MP4 files (DASH segments, live recordings, ffmpeg's
// frag_keyframe) keep an empty or partial sample table in moov: the
// samples live in moof boxes after it, so moov alone says the movie is
// zero seconds long.

const (
	tfhdBaseDataOffset     = 0x000001
	tfhdSampleDescription  = 0x000002
	tfhdDefaultDuration    = 0x000008
	trunDataOffset         = 0x000001
	trunFirstSampleFlags   = 0x000004
	trunSampleDuration     = 0x000100
	trunSampleSize         = 0x000200
	trunSampleFlags        = 0x000400
	trunSampleCompositionT = 0x000800

	// maxFragmentsSummed bounds the moof boxes read when the last one has
	// no decode time and durations must be added up.
	maxFragmentsSummed = 2000
)

// trackTiming is a track's timescale and default sample duration.
type trackTiming struct {
	timescale       uint32
	defaultDuration uint32
}

// fragmentedDuration is the movie's duration in seconds: mvex/mehd when the
// muxer wrote it, else the end of the last fragment of the longest track
// (its decode time plus its samples' durations), else the sum of all
// fragments' samples.
func fragmentedDuration(r *reader, boxes []topBox, moov []byte, tracks map[uint32]trackTiming) (float64, error) {
	if seconds, ok := movieExtendsDuration(moov); ok {
		return seconds, nil
	}
	for id, trex := range trackExtends(moov) {
		timing := tracks[id]
		timing.defaultDuration = trex
		tracks[id] = timing
	}

	var moofs []topBox
	for _, box := range boxes {
		if box.typ == "moof" {
			moofs = append(moofs, box)
		}
	}
	if len(moofs) == 0 {
		return 0, errors.New("no moof boxes")
	}

	last, err := loadBox(r, moofs[len(moofs)-1])
	if err != nil {
		return 0, err
	}
	ends, complete := fragmentEnds(last, tracks, nil)
	if !complete {
		// No decode times: add up every fragment from the start.
		ends = map[uint32]uint64{}
		for i, box := range moofs {
			if i == maxFragmentsSummed {
				return 0, errors.New("too many fragments to add up")
			}
			payload, err := loadBox(r, box)
			if err != nil {
				return 0, err
			}
			ends, _ = fragmentEnds(payload, tracks, ends)
		}
	}

	longest := 0.0
	for id, end := range ends {
		if timescale := tracks[id].timescale; timescale > 0 {
			longest = max(longest, float64(end)/float64(timescale))
		}
	}
	return longest, nil
}

// movieExtendsDuration reads moov/mvex/mehd in the movie's timescale.
func movieExtendsDuration(moov []byte) (float64, bool) {
	mvhd, ok := path(moov, "mvhd")
	if !ok {
		return 0, false
	}
	c := cursor{b: mvhd}
	if c.u8() == 1 {
		c.take(3 + 16)
	} else {
		c.take(3 + 8)
	}
	timescale := c.u32()

	mehd, ok := path(moov, "mvex", "mehd")
	if !ok || timescale == 0 {
		return 0, false
	}
	c = cursor{b: mehd}
	var duration uint64
	if c.u8() == 1 {
		c.take(3)
		duration = c.u64()
	} else {
		c.take(3)
		duration = uint64(c.u32())
	}
	if c.short || duration == 0 {
		return 0, false
	}
	return float64(duration) / float64(timescale), true
}

// trackExtends reads each trex's default sample duration by track id.
func trackExtends(moov []byte) map[uint32]uint32 {
	defaults := map[uint32]uint32{}
	mvex, ok := path(moov, "mvex")
	if !ok {
		return defaults
	}
	kids, _ := children(mvex)
	for _, kid := range kids {
		if kid.typ != "trex" {
			continue
		}
		c := cursor{b: kid.data}
		c.take(4)
		id := c.u32()
		c.u32()
		duration := c.u32()
		if !c.short {
			defaults[id] = duration
		}
	}
	return defaults
}

// fragmentEnds adds one moof's sample durations to each track's running
// end. complete is true when every track fragment carried a decode time
// (tfdt), so the ends are absolute without reading earlier fragments.
func fragmentEnds(moof []byte, tracks map[uint32]trackTiming, ends map[uint32]uint64) (map[uint32]uint64, bool) {
	if ends == nil {
		ends = map[uint32]uint64{}
	}
	complete := true
	kids, _ := children(moof)
	for _, traf := range kids {
		if traf.typ != "traf" {
			continue
		}
		parts, _ := children(traf.data)

		tfhd, ok := find(parts, "tfhd")
		if !ok {
			continue
		}
		c := cursor{b: tfhd.data}
		flags := c.u32() & 0xFFFFFF
		id := c.u32()
		if flags&tfhdBaseDataOffset != 0 {
			c.u64()
		}
		if flags&tfhdSampleDescription != 0 {
			c.u32()
		}
		defaultDuration := tracks[id].defaultDuration
		if flags&tfhdDefaultDuration != 0 {
			defaultDuration = c.u32()
		}

		if tfdt, ok := find(parts, "tfdt"); ok {
			d := cursor{b: tfdt.data}
			if d.u8() == 1 {
				d.take(3)
				ends[id] = d.u64()
			} else {
				d.take(3)
				ends[id] = uint64(d.u32())
			}
		} else {
			complete = false
		}

		for _, part := range parts {
			if part.typ == "trun" {
				ends[id] += trunDuration(part.data, defaultDuration)
			}
		}
	}
	return ends, complete
}

// trunDuration adds up a track run's sample durations.
func trunDuration(trun []byte, defaultDuration uint32) uint64 {
	c := cursor{b: trun}
	flags := c.u32() & 0xFFFFFF
	count := c.u32()
	if flags&trunDataOffset != 0 {
		c.u32()
	}
	if flags&trunFirstSampleFlags != 0 {
		c.u32()
	}
	if flags&trunSampleDuration == 0 {
		return uint64(count) * uint64(defaultDuration)
	}

	var total uint64
	for i := uint32(0); i < count && !c.short; i++ {
		total += uint64(c.u32())
		for _, optional := range []uint32{trunSampleSize, trunSampleFlags, trunSampleCompositionT} {
			if flags&optional != 0 {
				c.u32()
			}
		}
	}
	return total
}
