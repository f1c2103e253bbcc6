"""HL7 v2: MLLP framing and server, fast MSH reader, ACK/NAK, v2 to Presentation."""
