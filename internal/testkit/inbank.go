package testkit

// The Inbank session the payment tests create: in the seed's example shop (seed 001, the
// sandbox's default shop too), under the POS session UUID the tests' fake Inbank hands out.
const (
	InbankShop       = "a93f1f44-d5dd-4469-bfcc-c1de9e969213"
	InbankPOSSession = "0b6a3a8e-2f7c-4d8e-9a51-0c1d2e3f4a5b"
)
