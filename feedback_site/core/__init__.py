"""What every app of the site shares and no app owns: the errors a service raises."""
