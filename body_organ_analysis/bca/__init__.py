"""Body composition analysis: regions, tissues, slices, aggregation, report."""
