"""The pages: the public ones (Cek Bansos, usulan, sanggahan, tiket), the caseworker desk, the admin's."""
