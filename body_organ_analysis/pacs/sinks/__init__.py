"""Where the PACS worker delivers results: a folder, an SMB share, a DICOMweb server."""
