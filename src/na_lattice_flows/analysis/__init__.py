"""Stage 6, analysis: the campaign dataset and its statistics, the D model, figures (pure functions of
tables) and the HTML report (which reads the store through ``execution``)."""
