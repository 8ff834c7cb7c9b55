"""Finding confusing pairs in a team's own captioned images: the paper's discovery method (``mine-pairs``)."""
