package bgpreceiver

import "errors"

type bmpStation struct{}

func startBMP(*bgpReceiver, BMPConfig) (*bmpStation, error) {
	return nil, errors.New("bmp: the BMP station is not available in this build yet")
}
func (*bmpStation) stop() {}

type mrtReader struct{}

func startMRT(*bgpReceiver, MRTConfig) *mrtReader { return &mrtReader{} }
func (*mrtReader) stop()                          {}
