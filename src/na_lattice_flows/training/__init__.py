"""Force fields made or adapted here: training sets from MLP MD (frame selection, DFT labels, independent
splits), Allegro from scratch and fine-tuned universal models, and their test errors."""
