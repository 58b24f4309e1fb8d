"""Cek Bansos and the caseworker desk (`dtsen web`): public status check, proposals (usulan) and objections
(sanggahan), verification and two-person decisions, and the monthly export of approved decisions into landing."""
