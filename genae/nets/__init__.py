"""Network bodies shared by several plugins (progressive encoders and decoders)."""
