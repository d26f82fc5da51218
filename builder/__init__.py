"""Video + captions -> dataset. Each module is one stage; no CLI code here."""
